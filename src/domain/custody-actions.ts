/**
 * The closed vocabulary of custody actions: every `action` cleanroom records in a case's custody
 * record, with what it means. A recording function takes a {@link CustodyAction}, so an action the
 * code records and this list does not declare is a compile error; every one declared here has a row
 * in docs/custody.md ("Custody actions"), which a test checks.
 *
 * A stored event's `action` stays a plain string (src/custody/event.ts): a record written by an
 * earlier version keeps the words of its day and must still verify; a later version may add words.
 * A word, once recorded, is never renamed.
 */

/** Every custody action, in order of the life of a case, each with its one-line meaning. */
export const CUSTODY_ACTIONS = {
  'case.key.create': "the case's KMS key created (or found) in the forensic account",
  'case.lease.takeover': "a command took over a dead or expired holder's lease on the case",
  'custody.checkpoint':
    'lane heads committed into the main chain: the lane events up to each head take their place in the record right before this event',

  'room.deploy.start': 'a change set of the room stack executed',
  'room.deploy': 'how that change set ended',
  'room.deploy.timeout': 'the wait for that change set ran out (the deployment may still finish)',
  'room.discard-review-stack': 'a room stack left in REVIEW_IN_PROGRESS deleted before deploying again',
  'room.guard-rail.revoke-rules': 'security group rules the room did not declare revoked',
  'room.guard-rail.authorize-rules': 'security group rules the room declares put back',
  'room.guard-rail.instance-groups':
    'every network interface of the forensic instance put back in exactly the room groups',
  'room.guard-rail.imds': "the forensic instance's metadata service set back to IMDSv2 only, hop limit 1",
  'room.guest-tools': 'the guest tooling (read-only udev rule, evidence status tool) uploaded for the room',
  'room.toolkit':
    'the forensic toolkit chosen for the room (id, manifest SHA-256, tools and versions) and copied into the case, or none and why',
  'room.toolkit.verify':
    "what the room's installer said about the toolkit: installed, mismatch, failed or not-confirmed",
  'room.audit': 'the room audited against what it must be, with the result',
  'room.session.start': 'an analyst opened a Session Manager session to the forensic instance (room shell)',
  'room.session':
    "that session's end: status, and its transcript in the vault with its SHA-256 (or why there is none; `found`: recorded afterwards from Session Manager's history)",
  'room.down.detach': 'an evidence volume detached from the forensic instance before the room is taken down',
  'room.down': 'the room stack deleted',

  'isolate.record-state': "the instance's state before isolation recorded (what a rollback restores)",
  'isolate.protect':
    'the evidence protected: termination protection, shutdown behaviour stop, volumes kept on termination',
  'isolate.leave-asg': 'the instance detached from its Auto Scaling group',
  'isolate.leave-target-groups': 'the instance deregistered from its load balancer target groups',
  'isolate.leave-classic-lbs': 'the instance deregistered from the Classic Load Balancers that listed it',
  'isolate.prepare-groups':
    "the case's two groups in every VPC of the instance made: allow-all (transit) and no-rule (isolation)",
  'isolate.swap-groups': 'every network interface moved to the transit group, then to the isolation group only',
  'isolate.network-acl': '(--nacl) a deny-all network ACL on every subnet of the instance',
  'isolate.swap-profile': "the instance profile replaced with the case's deny-all quarantine profile",
  'isolate.revoke-sessions': "the old role's sessions issued before now revoked",
  'isolate.tag': 'the instance tagged with the case and the quarantine marker (last: the marker says it is done)',
  'isolate.stop': '(--stop) the instance stopped (hibernated when it can) at the end of isolation',
  'isolate.complete': 'the instance is isolated: every step done',
  'isolate.release.start': '(release) the instance started again: isolate stopped it and it was running before',
  'isolate.release.profile': '(release) the instance profile recorded before isolation associated again (or none)',
  'isolate.release.network-acl': "(release) each subnet's network ACL recorded before --nacl associated again",
  'isolate.release.groups': '(release) every network interface back in the security groups recorded before isolation',
  'isolate.release.cleanup':
    "(release) the case's isolation and transit groups deleted where no network interface uses them any more",
  'isolate.release.elb': '(release --reregister) the instance registered again with its Classic Load Balancers',
  'isolate.release.targets':
    '(release --reregister) the instance registered again in its target groups, ports as recorded',
  'isolate.release.asg': '(release --rejoin-asg) the instance attached to its Auto Scaling group again',
  'isolate.release.attributes':
    '(release) shutdown behaviour and DeleteOnTermination per volume as recorded; termination protection off only with --unprotect',
  'isolate.release.tag':
    '(release) the quarantine tag replaced by `cleanroom:released=<time>` (last: says the release is done)',
  'isolate.release': 'the instance is released: every release step done, with what was kept and what was skipped',

  'evidence.snapshot': 'the source snapshot of an evidence item (source account)',
  'evidence.share.copy': 'the re-encrypted copy under the temporary sharing key (source account)',
  'evidence.share': 'that copy shared with the forensic account',
  'evidence.copy': 'the forensic copy under the case key started (forensic account)',
  'evidence.preserved': 'the forensic copy completed: the evidence of record',
  'evidence.hash': "the acquisition content hash of an item's snapshot (SHA-256 and Merkle root, source and forensic)",
  'evidence.share.retire': 'the sharing copy deleted once the forensic copy completed (acquire or close)',
  'evidence.failed': 'a step of an evidence item failed: how far it got and why',
  'acquire.share-key': 'the temporary sharing key of the source account created (or found)',
  'acquire.share-key.retire': "the sharing key's deletion scheduled once no item needs it",
  'acquire.share-key.kept': 'the sharing key kept because an item still needs it',
  'acquire.run': "an acquisition run's end: every item's state",

  'evidence.volume.create': 'a working volume created from the forensic snapshot',
  'evidence.attach': 'the working volume attached to the forensic instance',
  'evidence.readonly-check': 'what the forensic instance said about the working volume (read-only or not)',
  'evidence.room-hash': 'the in-room hash of the attached evidence device compared with the acquisition hash',
  'evidence.detach': 'the working volume detached from the forensic instance',
  'evidence.hash.check': 'a later recomputation of the content hash (`evidence hash`): equal or different',
  'evidence.export.start': 'an image export of the evidence snapshot started (vault or file)',
  'evidence.export': "an image export finished, with the image's SHA-256 and where it is",

  'memory.capture.start':
    "a memory capture of an instance began: the image's vault key, the multipart upload, part size and count, the URLs' expiry, the tool (SHA-256, version), the SSM command once sent",
  'memory.capture':
    "how that capture ended: succeeded (the image's version, size, the tool's read-back SHA-256, the host's SHA-256 and whether they match, kernel, MemTotal) or failed and why",
  'memory.upload.abort':
    'an open multipart upload of a memory image aborted (stale after a crash, or of a failed capture), and why',

  'case.close.verify': 'the vault verified before close changes anything',
  'case.close.detach': 'a working volume detached at close',
  'case.close.written-check': 'whether a working volume was written to (compared with its evidence snapshot)',
  'case.close.delete-volume': 'a working volume deleted at close (or kept: written to, or gone)',
  'case.close.delete-stack': 'the room stack deleted at close',
  'case.close.retain-snapshot': 'a snapshot the case keeps tagged retained',
  'case.close.lock-snapshot': 'an evidence snapshot locked (EBS snapshot lock) for the days asked',
  'case.close.schedule-key-deletion': "a case key's deletion scheduled (or not: still needed)",
  'case.close.incomplete': 'close ended with work outstanding, and what',
  'case.close': 'the case closed',

  'automation.run':
    'a fleet run started (automation run): its item list in the vault with its SHA-256, the instance count, the execution',
  'automation.approval':
    'a paused execution approved or rejected (automation approve | reject): by whom, why, the execution',
  'automation.start':
    'the automated response (Step Functions) took up a finding for an instance: finding, instance, isolation policy, execution',
  'automation.approval.request':
    "the response paused for a responder's approval of the isolation (task token kept in the vault, responders notified)",
  'automation.notify':
    'the responders were notified of how an automated response (or a fleet run) ended: outcome, evidence and hashes, custody head',
} as const satisfies Record<string, string>;

/** An action cleanroom records. */
export type CustodyAction = keyof typeof CUSTODY_ACTIONS;

/** Every declared action, in the order above. */
export const CUSTODY_ACTION_LIST = Object.keys(CUSTODY_ACTIONS) as CustodyAction[];

/** Whether a stored action is one this version declares (a later version may record more). */
export function isCustodyAction(action: string): action is CustodyAction {
  return Object.hasOwn(CUSTODY_ACTIONS, action);
}
