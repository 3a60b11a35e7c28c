import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import { vaultCommands } from './vault.js';
import { roomCommands } from './room.js';
import { isolateCommands } from './isolate.js';
import { acquireCommands } from './acquire.js';
import { evidenceCommands } from './evidence.js';
import { custodyCommands } from './custody.js';
import { caseCommands } from './case.js';
import { automationCommands } from './automation.js';
import { memoryCommands } from './memory.js';

/** A command module adds its commands to the parser. */
export type CommandModule = (y: Argv, io: HostIo) => Argv;

export const commandModules: CommandModule[] = [
  vaultCommands,
  roomCommands,
  isolateCommands,
  acquireCommands,
  evidenceCommands,
  custodyCommands,
  caseCommands,
  automationCommands,
  memoryCommands,
];
