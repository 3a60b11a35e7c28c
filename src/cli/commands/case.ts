// PLACEHOLDER: the case commands are added by their issue.
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';

export function caseCommands(y: Argv, _io: HostIo): Argv {
  return y;
}
