"""A stack created or updated by executing a change set reports its template's outputs.

AWS: "ExecuteChangeSet — Updates a stack using the input information that was provided when the
specified change set was created" and DescribeStacks returns the stack's `Outputs` afterwards, exactly
as for CreateStack/UpdateStack (CloudFormation User Guide, "Update CloudFormation stacks using change
sets"; API Reference, ExecuteChangeSet and DescribeStacks / Output). A change set of type CREATE
"creates a new stack" in REVIEW_IN_PROGRESS that takes the change set's template when executed
(API Reference, CreateChangeSet, ChangeSetType).

moto 5.2.1 builds a stack's output map only in the Stack constructor (CreateStack) and in
Stack.update (UpdateStack). A stack made by a CREATE change set is constructed with an empty
template, so after ExecuteChangeSet it has no Outputs; after an UPDATE change set its outputs, its
template and its parameters stay those of before (so the next identical change set is not
recognised as empty either). This patch, after moto's own ExecuteChangeSet, gives the stack the
change set's template, parameters and the output map built from them.

Tested by test/harness/fidelity-cfn-change-set-outputs.test.ts.
"""


def apply() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set
    if getattr(original, "_cleanroom_patched", False):
        return

    def execute_change_set(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        change_set = self.change_sets.get(change_set_name)
        if change_set is None:
            for cs in self.change_sets.values():
                if cs.change_set_name == change_set_name:
                    change_set = cs
        original(self, change_set_name, stack_name)
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        stack.template = change_set.template
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        if change_set.parameters:
            stack.parameters = change_set.parameters
        stack.output_map = stack._create_output_map()

    execute_change_set._cleanroom_patched = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
