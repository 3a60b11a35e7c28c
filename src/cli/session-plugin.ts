/**
 * The Session Manager plugin as this host runs it (the {@link SessionPlugin} port of `room shell`):
 * found on PATH or through CLEANROOM_SESSION_MANAGER_PLUGIN, started exactly as the AWS CLI starts
 * it (aws-cli awscli/customizations/sessionmanager.py, StartSessionCaller.invoke): the terminal is
 * the plugin's, and while it runs cleanroom ignores the signals a user types (Ctrl-C, Ctrl-\,
 * Ctrl-Z) — they reach the plugin, which passes them on to the remote shell, as the AWS CLI's
 * `ignore_user_entered_signals` does.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SESSION_PLUGIN_ENV, type SessionPlugin } from '../workflows/room/index.js';

const PLUGIN = 'session-manager-plugin';
/**
 * A plugin newer than this takes the StartSession response through an environment variable (named
 * in the first argument) instead of on its command line, where `ps` would show the session token.
 */
const LAST_VERSION_WITHOUT_ENV_VAR = [1, 2, 497, 0];
const RESPONSE_ENV = 'AWS_SSM_START_SESSION_RESPONSE';

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Newer than 1.2.497.0 (the AWS CLI's VersionRequirement: a strictly greater dotted version). */
export function takesResponseFromEnv(version: string): boolean {
  const v = version.replace(/\s+/g, '');
  if (!/^\d+(\.\d+){0,3}$/.test(v)) return false;
  const parts = v.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const a = parts[i] ?? 0;
    const b = LAST_VERSION_WITHOUT_ENV_VAR[i] ?? 0;
    if (a !== b) return a > b;
  }
  return false;
}

export interface ProcessPluginOptions {
  env: NodeJS.ProcessEnv;
  /** The plugin's output goes to stderr (with --json, stdout carries only the result). */
  outputToStderr: boolean;
  /** Told when the plugin takes the terminal (true) and gives it back (false). */
  foreground: (on: boolean) => void;
}

export function processSessionPlugin(o: ProcessPluginOptions): SessionPlugin {
  return {
    async locate() {
      const named = o.env[SESSION_PLUGIN_ENV];
      if (named) return executable(named) ? named : undefined;
      for (const dir of (o.env['PATH'] ?? '').split(path.delimiter)) {
        if (!dir) continue;
        const p = path.join(dir, PLUGIN);
        if (executable(p)) return p;
      }
      return undefined;
    },
    run({ path: plugin, args }) {
      let version = '';
      try {
        version = execFileSync(plugin, ['--version'], { encoding: 'utf8', env: o.env, timeout: 30_000 });
      } catch {
        version = '';
      }
      const env = { ...o.env };
      const argv = [...args];
      if (takesResponseFromEnv(version) && argv[0] !== undefined) {
        env[RESPONSE_ENV] = argv[0];
        argv[0] = RESPONSE_ENV;
      }
      return new Promise((resolve, reject) => {
        const ignore = () => undefined;
        const typed = ['SIGINT', 'SIGQUIT', 'SIGTSTP'] as const;
        for (const s of typed) process.on(s, ignore);
        o.foreground(true);
        const done = () => {
          o.foreground(false);
          for (const s of typed) process.removeListener(s, ignore);
        };
        const child = spawn(plugin, argv, {
          stdio: ['inherit', o.outputToStderr ? process.stderr : 'inherit', 'inherit'],
          env,
        });
        child.on('error', (e) => {
          done();
          reject(e);
        });
        child.on('exit', (code, signal) => {
          done();
          resolve({ exitCode: code, ...(signal ? { signal } : {}) });
        });
      });
    },
  };
}
