"""Step Functions: every StartExecution starts an execution, and one started without a name is
named with a UUID.

AWS (Step Functions API Reference, StartExecution): starts an execution of the state machine —
any number of them, concurrently ("Quotas": up to 1,000,000 open executions); `name`: "If you don't
provide a name for the execution, Step Functions automatically generates a universally unique
identifier (UUID) as the execution name."

moto 5.2.1's interpreter (moto/stepfunctions/parser/models.py StepFunctionsParserBackend
.start_execution) deep-copies the state machine, which holds its backend, which holds every
execution of every state machine with its worker thread's locks: once one execution exists in
an account and Region, every further StartExecution fails with HTTP 500 ("cannot pickle
'_thread.RLock' object"). An execution started without a name is named "None" (every such
execution has the same ARN).

This patch: the copy of the state machine an execution keeps is a copy of its definition and
settings only (its backend shared, its executions list not copied); an execution without a name
gets a UUID.

Tested by test/local-aws/fidelity-sfn-lambda-events.test.ts.
"""
import copy
import uuid


def apply() -> None:
    from moto.stepfunctions.models import StateMachineInstance
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if getattr(StateMachineInstance, "_cleanroom_patched", False):
        return
    StateMachineInstance._cleanroom_patched = True  # type: ignore[attr-defined]

    def deepcopy(self, memo):  # type: ignore[no-untyped-def]
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for k, v in self.__dict__.items():
            if k == "backend":
                clone.__dict__[k] = v
            elif k == "executions":
                clone.__dict__[k] = []
            else:
                clone.__dict__[k] = copy.deepcopy(v, memo)
        return clone

    StateMachineInstance.__deepcopy__ = deepcopy  # type: ignore[attr-defined]

    start_execution = StepFunctionsParserBackend.start_execution

    def start_named(self, state_machine_arn, name=None, execution_input=None, trace_header=None):  # type: ignore[no-untyped-def]
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_named  # type: ignore[method-assign]
