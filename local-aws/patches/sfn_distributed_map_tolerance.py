"""A Distributed Map whose failed items exceed its tolerated failure threshold fails with
States.ExceedToleratedFailureThreshold.

AWS (Step Functions Developer Guide, "Setting failure thresholds for Distributed Map states"):
"The Map Run fails automatically if it exceeds either threshold" — ToleratedFailureCount (or
...Path) and ToleratedFailurePercentage (or ...Path); both default to 0, so without them one failed
item fails the Map Run; the Map state then fails with the error `States.ExceedToleratedFailureThreshold`
(catchable like any other). A failed or timed-out child execution counts as a failed item.

moto 5.2.1 evaluates both thresholds (and validates them) but never compares them with the failed
items (moto/stepfunctions/parser/asl/component/state/exec/state_map/iteration/
distributed_iteration_component.py): a Distributed Map always succeeds, whatever its children
did, with `null` in place of each failed item's result.

This patch: when all items are done, the failed and timed-out items are compared with the two
thresholds; above either, the Map Run fails (MapRunFailed, the map run record FAILED) with
States.ExceedToleratedFailureThreshold.

Gaps: AWS stops starting new items as soon as the threshold is exceeded; here every item runs
first. moto reports a threshold that is not set as 0, so an explicit 0 next to a non-zero other
threshold is taken as not set (AWS: zero tolerance on that measure). The Map's output for a tolerated failed item stays `null` (moto).

Tested by test/local-aws/fidelity-sfn-lambda-events.test.ts.
"""


def apply() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if getattr(DistributedIterationComponent._map_run, "_cleanroom_patched", False):
        return
    original = DistributedIterationComponent._map_run

    def _map_run(self, env, eval_input):  # type: ignore[no-untyped-def]
        original(self, env, eval_input)
        counter = eval_input.map_run_record.item_counter
        failed = counter.failed.get() + counter.timed_out.get()
        total = counter.total.get()
        count = eval_input.tolerated_failure_count or 0
        percentage = eval_input.tolerated_failure_percentage or 0.0
        # moto reports an unset threshold as 0: a threshold of 0 counts as set only when both are 0.
        over_count = failed > count if count or not percentage else False
        over_percentage = failed * 100.0 / total > percentage if percentage or not count else False
        if failed and (over_count or over_percentage):
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            cause = "The specified tolerated failure threshold was exceeded"
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=error,
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.error_name, cause=cause)
                    ),
                )
            )

    _map_run._cleanroom_patched = True  # type: ignore[attr-defined]
    DistributedIterationComponent._map_run = _map_run  # type: ignore[method-assign]
