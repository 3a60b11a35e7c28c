/**
 * The capture as the compromised host sees it: one SSM AWS-RunShellScript command holding the guest
 * script (inline) and its arguments — presigned URLs, a SHA-256, a work directory, a deadline — and
 * nothing else: no access key, no secret, no session token, no AWS_* variable, no role. What the
 * host can read there, an attacker on it can read too; a presigned URL lets it do one thing to one
 * object until it expires. The script's one answer line (`CLEANROOM-MEMORY {...}`) is parsed here.
 */

/** The rate the budget assumes the host uploads at: 16 MiB/s (128 Mbit/s, well under an EC2 instance's network). */
export const ASSUMED_UPLOAD_BYTES_PER_SECOND = 16 * 1024 * 1024;
/** Fixed time on top: SSM delivery, the tool download and check, AVML's start. */
export const FIXED_SECONDS = 600;
/** SSM's longest executionTimeout for AWS-RunShellScript (48 hours). */
export const MAX_EXECUTION_SECONDS = 172_800;
/** Slack of the URLs past the deadline (a part in flight when the deadline passes). */
export const URL_SLACK_SECONDS = 300;

/** How long the capture may take on the host, and how long its URLs live, for this much memory. */
export function captureBudget(memoryBytes: number): { executionSeconds: number; urlSeconds: number } {
  const executionSeconds = Math.min(
    MAX_EXECUTION_SECONDS,
    FIXED_SECONDS + Math.ceil(memoryBytes / ASSUMED_UPLOAD_BYTES_PER_SECOND),
  );
  return { executionSeconds, urlSeconds: executionSeconds + URL_SLACK_SECONDS };
}

/** Where the script works on the host: on disk, not /tmp (often tmpfs: buffering there would use the memory being captured). */
export const GUEST_WORK_ROOT = '/var/tmp';

/** The arguments of the guest script (contract: only these). */
export interface CaptureArgs {
  toolUrl: string;
  toolSha256: string;
  partsUrl: string;
  /** Epoch seconds: the script stops uploading at this time. */
  deadline: number;
}

const HEREDOC = 'CLEANROOM_MEMORY_CAPTURE_EOF';

/** Single-quote a word for sh (presigned URLs hold `&`, `%`, `=`). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The one shell command sent: the script written into a fresh directory under /var/tmp, checked
 * against its SHA-256 (a copy cut short in transit never runs), run with its arguments, and the
 * directory removed whatever happened. Its exit code is the script's.
 */
export function captureCommand(script: { text: string; sha256: string }, a: CaptureArgs): string {
  if (script.text.split('\n').includes(HEREDOC)) throw new Error(`the guest script contains the line ${HEREDOC}`);
  const args = [
    '--tool-url',
    shQuote(a.toolUrl),
    '--tool-sha256',
    a.toolSha256,
    '--parts-url',
    shQuote(a.partsUrl),
    '--workdir',
    '"$d/work"',
    '--deadline',
    String(a.deadline),
  ].join(' ');
  return [
    `d=$(mktemp -d ${GUEST_WORK_ROOT}/cleanroom-memory.XXXXXXXX) || exit 97`,
    `cat > "$d/capture.sh" <<'${HEREDOC}'`,
    script.text.endsWith('\n') ? script.text.slice(0, -1) : script.text,
    HEREDOC,
    `if ! echo "${script.sha256}  $d/capture.sh" | sha256sum -c --status; then rm -rf "$d"; echo 'CLEANROOM-MEMORY {"ok":false,"reason":"the capture script arrived damaged (SHA-256 differs)","code":"SCRIPT_DAMAGED"}'; exit 98; fi`,
    `mkdir -m 700 "$d/work" && bash "$d/capture.sh" ${args}`,
    'rc=$?',
    'rm -rf "$d"',
    'exit $rc',
  ].join('\n');
}

/** The guest script's answer line. */
export interface GuestReport {
  ok: boolean;
  bytes?: number;
  sha256?: string;
  partsUploaded?: number;
  kernel?: string;
  memTotalKiB?: number;
  tool?: string;
  toolVersion?: string;
  reason?: string;
  code?: string;
}

const PREFIX = 'CLEANROOM-MEMORY ';

/** The last `CLEANROOM-MEMORY {...}` line of the output, parsed; undefined when there is none (or it is cut short). */
export function parseGuestReport(stdout: string): GuestReport | undefined {
  const lines = stdout.split('\n').filter((l) => l.startsWith(PREFIX));
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    const v = JSON.parse(last.slice(PREFIX.length)) as unknown;
    if (!v || typeof v !== 'object' || typeof (v as GuestReport).ok !== 'boolean') return undefined;
    const r = v as Record<string, unknown>;
    const str = (k: string) => (typeof r[k] === 'string' && r[k] !== '' ? { [k]: r[k] as string } : {});
    const num = (k: string) => (typeof r[k] === 'number' && Number.isFinite(r[k]) ? { [k]: r[k] as number } : {});
    return {
      ok: r['ok'] as boolean,
      ...num('bytes'),
      ...str('sha256'),
      ...num('partsUploaded'),
      ...str('kernel'),
      ...num('memTotalKiB'),
      ...str('tool'),
      ...str('toolVersion'),
      ...str('reason'),
      ...str('code'),
    };
  } catch {
    return undefined;
  }
}

/** The image's UTC time stamp in its key: `YYYYMMDDTHHMMSSZ`. */
export function keyTime(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** The image's vault key. */
export function imageKey(caseId: string, instanceId: string, time: string): string {
  return `cases/${caseId}/memory/${instanceId}-${time}.lime`;
}

/** The prefix of every image of this instance in the case (what a rerun looks for open uploads under). */
export function imagePrefix(caseId: string, instanceId: string): string {
  return `cases/${caseId}/memory/${instanceId}-`;
}

/** The evidence id of a memory image: `ev-mem-<instance>-<time>` in lower case. */
export function memoryEvidenceId(instanceId: string, time: string): string {
  return `ev-mem-${instanceId}-${time}`.toLowerCase();
}
