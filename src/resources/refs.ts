/**
 * The one builder of a {@link ResourceRef}: what a custody event names as the AWS resource it
 * touched. It lives in domain/ (the step recorder builds refs too); the resource layer re-exports it.
 */
export { resourceRef } from '../domain/recorder.js';
