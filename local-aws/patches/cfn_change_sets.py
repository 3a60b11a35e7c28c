"""Change sets behave as CloudFormation documents them: an empty one is a FAILED change set, and
executing one gives the stack the change set's template, parameters and outputs.

AWS (CloudFormation API Reference):
- CreateChangeSet: "After the CreateChangeSet call successfully completes, CloudFormation starts
  creating the change set. To check the status of the change set or to review it, use the
  DescribeChangeSet action." A change set that contains no changes ends in Status FAILED with
  StatusReason "The submitted information didn't contain changes. Submit different information to
  create a change set." (DescribeChangeSet / ChangeSetSummary StatusReason: "if your change set is
  in the FAILED state, CloudFormation shows the error message"; the AWS CLI's `cloudformation
  deploy --no-fail-on-empty-changeset` relies on it). CreateChangeSet itself does not fail:
  "No updates are to be performed." is UpdateStack's error.
- ExecuteChangeSet: "Updates a stack using the input information that was provided when the
  specified change set was created"; DescribeStacks then returns the stack's `Outputs`, as after
  CreateStack/UpdateStack. A change set of type CREATE creates the stack in REVIEW_IN_PROGRESS and
  the stack takes the change set's template when it is executed.

moto 5.2.1 (1) raises UpdateStack's ValidationError "No updates are to be performed." from
CreateChangeSet when the template and every parameter value equal the stack's; (2) builds a stack's
output map only in the Stack constructor (CreateStack) and in Stack.update (UpdateStack): a stack
made by a CREATE change set is constructed with an empty template, so after ExecuteChangeSet it has
no Outputs, and after an UPDATE change set its outputs, template and parameters stay those of
before. This patch (1) skips that UpdateStack check inside CreateChangeSet, so moto's own
empty-change-set detection answers FAILED, and (2) after moto's ExecuteChangeSet gives the stack the
change set's template and parameters and the output map built from them.

Tested by test/local-aws/fidelity-cfn-change-sets.test.ts.
"""


def apply() -> None:
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse

    original_execute = CloudFormationBackend.execute_change_set
    if getattr(original_execute, "_cleanroom_patched", False):
        return

    def execute_change_set(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        change_set = self.change_sets.get(change_set_name)
        if change_set is None:
            for cs in self.change_sets.values():
                if cs.change_set_name == change_set_name:
                    change_set = cs
        original_execute(self, change_set_name, stack_name)
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

    original_create = CloudFormationResponse.create_change_set
    original_validate = CloudFormationResponse._validate_different_update

    def create_change_set(self):  # type: ignore[no-untyped-def]
        self._cleanroom_in_change_set = True
        try:
            return original_create(self)
        finally:
            self._cleanroom_in_change_set = False

    def validate_different_update(self, incoming_params, stack_body, old_stack):  # type: ignore[no-untyped-def]
        if getattr(self, "_cleanroom_in_change_set", False):
            return None
        return original_validate(self, incoming_params, stack_body, old_stack)

    CloudFormationResponse.create_change_set = create_change_set  # type: ignore[method-assign]
    CloudFormationResponse._validate_different_update = validate_different_update  # type: ignore[method-assign]
