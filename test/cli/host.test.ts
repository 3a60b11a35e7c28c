import t from 'tap';
import { PassThrough } from 'node:stream';
import { runCommand, type CommandResult, type HostIo } from '../../src/cli/host.js';
import { CleanroomError, PartialFailureError } from '../../src/domain/errors.js';

function io(): HostIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { stdout, stderr, stdin: new PassThrough(), isTTY: false, out: () => o, err: () => e };
}
const globals = { json: false, yes: false, verbose: false };

t.test('an invalid case id is refused with exit 2 before the handler (and so any AWS call) runs', async (t) => {
  const x = io();
  let ran = false;
  const code = await runCommand(
    { ...globals, case: 'bad id!' },
    async () => {
      ran = true;
      return { data: {}, text: '' };
    },
    x,
  );
  t.equal(code, 2);
  t.equal(ran, false);
  t.match(x.err(), /Case id "bad id!" is not valid/);
});

t.test(
  '--json prints exactly one JSON document on stdout, also for errors, with the exit code of the contract',
  async (t) => {
    const ok = io();
    t.equal(await runCommand({ ...globals, json: true }, async () => ({ data: { a: 1 }, text: 'human' }), ok), 0);
    t.same(JSON.parse(ok.out()), { a: 1 });

    const bad = io();
    const code = await runCommand(
      { ...globals, json: true },
      async () => {
        throw new CleanroomError('ROOM_AUDIT_FAILED', 'room fails its audit', {
          exitCode: 3,
          details: { caseId: 'X1' },
        });
      },
      bad,
    );
    t.equal(code, 3);
    t.same(JSON.parse(bad.out()).error, {
      code: 'ROOM_AUDIT_FAILED',
      message: 'room fails its audit',
      details: { caseId: 'X1' },
    });
    t.match(bad.err(), /error: room fails its audit/);
  },
);

t.test('a partial failure lists every failed item', async (t) => {
  const x = io();
  const code = await runCommand(
    { ...globals },
    async () => {
      throw new PartialFailureError('2 of 3 volumes failed', [
        { item: 'vol-1', error: new Error('throttled past budget') },
        { item: 'vol-2', error: new Error('snapshot error state') },
      ]);
    },
    x,
  );
  t.equal(code, 1);
  t.match(x.err(), /vol-1: throttled past budget[\s\S]*vol-2: snapshot error state/);
});

t.test('an unexpected bug exits 1 with one line, INTERNAL in the JSON; the stack only with --verbose', async (t) => {
  const x = io();
  t.equal(
    await runCommand(
      { ...globals, json: true },
      async () => {
        throw new TypeError('oops');
      },
      x,
    ),
    1,
  );
  t.same(JSON.parse(x.out()).error.code, 'INTERNAL');
  t.match(x.err(), /^error: TypeError: oops\n/);
  t.notMatch(x.err(), /\n\s+at /, 'no stack trace');
  const v = io();
  t.equal(
    await runCommand(
      { ...globals, verbose: true },
      async () => {
        throw new TypeError('oops');
      },
      v,
    ),
    1,
  );
  t.match(v.err(), /TypeError: oops\n\s+at /, '--verbose shows the stack for a report');
});

t.test(
  'Ctrl-C (SIGINT): exit 130, the stage reached, what was recorded, how to resume; JSON INTERRUPTED',
  async (t) => {
    const x = io();
    const listeners = process.listenerCount('SIGINT');
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const run = runCommand(
      { ...globals, json: true },
      async (ctx) => {
        ctx.reporter.progress({ kind: 'step', message: 'copying snapshot snap-1' });
        started();
        return new Promise<CommandResult<unknown>>(() => undefined); // a long wait that never ends by itself
      },
      x,
    );
    await running;
    process.emit('SIGINT');
    t.equal(await run, 130);
    const doc = JSON.parse(x.out());
    t.equal(doc.error.code, 'INTERRUPTED');
    t.match(
      doc.error.message,
      /Interrupted \(Ctrl-C\).*at: copying snapshot snap-1.*no custody event.*Run the same command again to resume/,
    );
    t.equal(process.listenerCount('SIGINT'), listeners, 'the handler is removed afterwards');
  },
);
