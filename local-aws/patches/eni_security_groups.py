"""Security groups belong to network interfaces; an instance's groups are those of its primary one.

AWS documents (Amazon EC2 User Guide, "Change security groups for your Amazon EC2 instance",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/changing-security-group.html, and the
ModifyNetworkInterfaceAttribute API reference, "Groups: Changes the security groups for the network
interface. The new set of groups you specify replaces the current set"): security groups are
associated with network interfaces, and changing an instance's security groups changes the groups of
its primary network interface (eth0). Each secondary interface keeps its own groups.

moto 5.2.1 keeps a separate instance-level group list and reports it on EVERY attached interface,
merged with the interface's own groups (`NetworkInterface.group_set` is `own | instance groups`).
Observed with the SDK: a secondary interface created with only group `mgmt` reports `app, mgmt`
once attached to an instance launched in `app`, and ModifyNetworkInterfaceAttribute on the primary
interface leaves the instance's old group on every interface, so no interface can ever be shown
with only the groups it was given.

This patch makes moto do what AWS documents: an interface reports its own groups; the instance's
groups ARE its primary interface's groups (reading them reads eth0's, replacing them — launch,
ModifyInstanceAttribute Groups — replaces eth0's). Nothing else changes; in particular the
documented trap in docs/local-aws.md (ModifyInstanceAttribute with the structured
`InstanceInitiatedShutdownBehavior: {Value}` wiping the instance's groups) is still reproduced,
since moto routes that call to its group handler with an empty list.

Covered by test/local-aws/fidelity-eni-security-groups.test.ts.
"""


def apply() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.models.instances import Instance

    NetworkInterface.group_set = property(lambda self: self._group_set)  # type: ignore[assignment]

    def _get(self):  # type: ignore[no-untyped-def]
        nics = self.__dict__.get("nics") or {}
        if 0 in nics:
            return list(nics[0]._group_set)
        return list(self.__dict__.get("_cleanroom_instance_groups", []))

    def _set(self, groups):  # type: ignore[no-untyped-def]
        self.__dict__["_cleanroom_instance_groups"] = list(groups or [])
        nics = self.__dict__.get("nics") or {}
        if 0 in nics:
            nics[0]._group_set = list(groups or [])

    Instance.security_groups = property(_get, _set)  # type: ignore[assignment]
