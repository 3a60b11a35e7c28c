// PLACEHOLDER: the isolate commands are added by their issue.
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';

export function isolateCommands(y: Argv, _io: HostIo): Argv {
  return y;
}
