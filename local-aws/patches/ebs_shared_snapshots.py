"""Fidelity patch: an EBS snapshot shared with createVolumePermission is visible to, and
copyable by, the account it is shared with.

What AWS documents
------------------
- Amazon EBS User Guide, "Share an Amazon EBS snapshot with other AWS accounts"
  (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html):
  users you authorize can use the snapshots you share to create their own EBS volumes; the
  snapshot stays in its Region; an encrypted snapshot needs its customer managed key shared too
  ("Share the KMS key used to encrypt a shared Amazon EBS snapshot", share-kms-key.html).
- Amazon EBS User Guide, "Use shared snapshots" (view-shared-snapshot.html): the account a
  snapshot is shared with finds it with DescribeSnapshots (--restorable-by-user-ids self) and
  copies it with CopySnapshot to own it.
- EC2 API Reference, DescribeSnapshots
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html): with no
  options it returns every snapshot the caller has create volume permissions for (its own, those
  explicitly shared with it, public ones); OwnerIds keeps only the snapshots of those owners
  (`self` = the caller's own); RestorableByUserIds=self keeps those the caller owns or has
  explicit permission for.

What moto 5.2.1 does instead
----------------------------
Each account's snapshots live in that account's backend only, so the grantee's DescribeSnapshots
never lists a shared snapshot and its CopySnapshot fails with InvalidSnapshot.NotFound
(docs/local-aws.md, "Shared snapshot used from another account").

What this patch changes, and nothing else
-----------------------------------------
- DescribeSnapshots in account B additionally returns the snapshots of other accounts, in the same
  Region, whose createVolumePermission names B (or the group `all`), unless OwnerIds or
  RestorableByUserIds exclude them. The owner's tags are not shown to B: tags belong to the account
  that set them (B sees the snapshot without tags). Everything moto returned before is returned
  unchanged.
- CopySnapshot in account B, when the source snapshot is not B's own, copies such a shared
  snapshot from the source Region; the copy belongs to B. (Its disk content, the source's blocks,
  is carried by ebs_snapshot_content.py, which wraps this CopySnapshot.)

Still NOT emulated (the product's KMS handling is proved on paper only, see docs/local-aws.md):
key policy / grant checks on the shared snapshot's KMS key, and CreateVolume directly from a
shared snapshot.
"""
import copy

from moto.ec2.exceptions import InvalidSnapshotIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import generic_filter, random_snapshot_id
from moto.core.responses import ActionResult


def _shared_with(account_id, region):
    """Snapshots of other accounts in `region` that `account_id` may create volumes from."""
    out = []
    for owner in list(ec2_backends.keys()):
        if owner == account_id:
            continue
        regional = ec2_backends[owner]
        # Look only at Regions that exist already: never create a backend as a side effect.
        if region not in list(dict.keys(regional)):
            continue
        for snap in list(regional[region].snapshots.values()):
            if account_id in snap.create_volume_permission_userids or "all" in snap.create_volume_permission_groups:
                out.append(snap)
    return out


def _grantee_view(snap):
    """The snapshot as another account sees it: same attributes, none of the owner's tags."""
    view = copy.copy(snap)
    view.get_tags = lambda: []
    return view


def _visible_foreign(response, owner_ids, restorable_by):
    backend = response.ec2_backend
    me = backend.account_id
    found = _shared_with(me, backend.region_name)
    if owner_ids:
        found = [s for s in found if s.owner_id in owner_ids]
    if restorable_by:
        explicit = "self" in restorable_by or me in restorable_by
        found = [s for s in found if (explicit and me in s.create_volume_permission_userids) or ("all" in restorable_by and "all" in s.create_volume_permission_groups)]
    return [_grantee_view(s) for s in found]


def _describe_snapshots(self):
    filters = self._filters_from_querystring()
    snapshot_ids = self._get_param("SnapshotIds", [])
    owner_ids = self._get_param("OwnerIds", [])
    restorable_by = self._get_param("RestorableByUserIds", [])
    foreign = _visible_foreign(self, owner_ids, restorable_by)
    if snapshot_ids:
        foreign = [s for s in foreign if s.id in snapshot_ids]
        own_ids = [i for i in snapshot_ids if i not in {s.id for s in foreign}]
        # moto's own lookup, unchanged, for the ids that are not shared ones (an unknown id
        # still fails as before).
        own = self.ec2_backend.describe_snapshots(snapshot_ids=own_ids, filters=filters) if own_ids else []
    else:
        own = self.ec2_backend.describe_snapshots(snapshot_ids=None, filters=filters)
    if filters:
        foreign = generic_filter(filters, foreign)
    return ActionResult({"Snapshots": list(own) + foreign})


_original_copy_snapshot = EBSBackend.copy_snapshot


def _copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id):
    try:
        return _original_copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id)
    except InvalidSnapshotIdError:
        source = next((s for s in _shared_with(self.account_id, source_region) if s.id == source_snapshot_id), None)
        if source is None:
            raise
    # As moto builds its own copies (EBSBackend.copy_snapshot), owned by the copying account.
    snapshot = Snapshot(
        self,
        random_snapshot_id(),
        volume=source.volume,
        description=description,
        encrypted=source.encrypted,
        kms_key_id=kms_key_id,
    )
    self.snapshots[snapshot.id] = snapshot
    return snapshot


def apply():
    ElasticBlockStore.describe_snapshots = _describe_snapshots
    EBSBackend.copy_snapshot = _copy_snapshot
