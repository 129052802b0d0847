/**
 * metadata-guard.sh, for real, in a private network namespace of its own (the host's firewall is untouched), with a
 * listener on 169.254.169.254 behind a veth standing in for the cloud's metadata server: root and the allowed system users reach
 * it, any other user is refused at once; the rules survive a re-run unchanged, stay first in OUTPUT, follow a changed
 * allow-list, and cloud-init's bootcmd form (METADATA_GUARD_BOOTCMD) gives the same root-only answer before the step.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { METADATA_GUARD_BOOTCMD } from '../../lib/cloudinit/node-bootstrap';
import { Sandbox, SCRIPTS_DIR } from './sh';

const STEP = path.join(SCRIPTS_DIR, 'metadata-guard.sh');
const usable = process.getuid?.() === 0
  && spawnSync('unshare', ['-n', 'iptables', '-w', '-S', 'OUTPUT']).status === 0
  && spawnSync('python3', ['--version']).status === 0;
if (!usable) console.warn('\n!!! SKIPPING metadata-guard.sh tests: need root, unshare -n and iptables (scripts/setup-debian.sh installs it)\n');
const maybe = usable || process.env.CI === 'true' ? describe : describe.skip;

/** In a fresh network namespace: the listener, then `body`; prints what each probe saw. */
function inNamespace(sb: Sandbox, body: string, env: Record<string, string> = {}) {
  const script = `
set -u
ip link set lo up
# The metadata server: its own namespace behind a veth, at 169.254.169.254, as a cloud puts it beyond the host's NIC.
unshare -n sleep 120 & srv=$!
for _ in $(seq 50); do [ -e /proc/$srv/ns/net ] && [ "$(readlink /proc/$srv/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
ip link add mdh type veth peer name mds netns /proc/$srv/ns/net
ip addr add 169.254.0.2/16 dev mdh
ip link set mdh up
nsenter --net=/proc/$srv/ns/net sh -c 'ip addr add 169.254.169.254/16 dev mds && ip link set mds up && exec python3 -c "$1"' server '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("169.254.169.254", 80)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\ntoken"); c.close()
' & py=$!
trap 'kill $py $srv 2>/dev/null' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/169.254.169.254/80) 2>/dev/null && break; sleep 0.1; done
probe() { # probe NAME UID: can this uid open a connection to the endpoint?
  if timeout 5 setpriv --reuid="$2" --regid="$2" --clear-groups bash -c 'exec 3<>/dev/tcp/169.254.169.254/80' 2>/dev/null; then echo "$1=open"; else echo "$1=refused"; fi
}
${body}
`;
  const started = Date.now();
  const r = spawnSync('unshare', ['-n', 'bash', '-c', script], { encoding: 'utf8', env: sb.env({ STEP, ...env }), timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr, log: sb.readLog(), ms: Date.now() - started };
}

maybe('metadata-guard.sh', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox();
    sb.file('node.env', "METADATA_ALLOWED_USERS='daemon nosuchuser'\n");
  });
  afterEach(() => sb.cleanup());

  test('before the step every user reaches the endpoint; after it, root and the allowed user only, and a refusal is immediate', () => {
    const r = inNamespace(sb, `
probe before-nobody 65534
bash "$STEP" || echo "step-failed=$?"
probe root 0
probe daemon "$(id -u daemon)"
probe nobody 65534
start=$(date +%s%N); probe nobody-again 65534; echo "refusal-ms=$(( ($(date +%s%N) - start) / 1000000 ))"
`);
    expect(r.err).not.toMatch(/step-failed/);
    expect(r.out).not.toMatch(/step-failed/);
    expect(r.out).toContain('before-nobody=open');
    expect(r.out).toContain('root=open');
    expect(r.out).toContain('daemon=open');
    expect(r.out).toContain('nobody=refused');
    expect(Number(/refusal-ms=(\d+)/.exec(r.out)?.[1])).toBeLessThan(2000);
    expect(r.log).toContain("METADATA_ALLOWED_USERS names 'nosuchuser', which has no account here: skipped");
    expect(r.log).toMatch(/metadata endpoint limited to uids 0 \d+ \(chain CDKTF_SLURM_METADATA\)/);
  });

  test('a re-run leaves the same rules, puts the jump back first when something was inserted before it, and follows a changed allow-list', () => {
    const r = inNamespace(sb, `
bash "$STEP" >/dev/null
first=$(iptables -S | sort | md5sum)
bash "$STEP" >/dev/null; echo "rerun-same=$([ "$(iptables -S | sort | md5sum)" = "$first" ] && echo yes || echo no)"
iptables -I OUTPUT 1 -d 169.254.169.254/32 -j ACCEPT
probe nobody-behind-accept 65534
bash "$STEP" >/dev/null
echo "first-rule=$(iptables -S OUTPUT | grep -m1 '^-A OUTPUT')"
echo "jumps=$(iptables -S OUTPUT | grep -c CDKTF_SLURM_METADATA)"
probe nobody-after 65534
printf "METADATA_ALLOWED_USERS=''\\n" > "$CDKTF_SLURM_ENV_FILE"
bash "$STEP" --rules-only >/dev/null
probe daemon-dropped "$(id -u daemon)"
probe root-still 0
`);
    expect(r.out).toContain('rerun-same=yes');
    expect(r.out).toContain('nobody-behind-accept=open');
    expect(r.out).toContain('first-rule=-A OUTPUT -d 169.254.169.254/32 -j CDKTF_SLURM_METADATA');
    expect(r.out).toContain('jumps=1');
    expect(r.out).toContain('nobody-after=refused');
    expect(r.out).toContain('daemon-dropped=refused');
    expect(r.out).toContain('root-still=open');
  });

  test('cloud-init\'s bootcmd form is root-only, and the step then widens it to the allow-list', () => {
    const r = inNamespace(sb, `
sh -c "$BOOTCMD"; echo "bootcmd=$?"
probe daemon-early "$(id -u daemon)"
probe root-early 0
sh -c "$BOOTCMD"; echo "bootcmd-again=$?; jumps=$(iptables -S OUTPUT | grep -c CDKTF_SLURM_METADATA)"
bash "$STEP" >/dev/null
probe daemon-late "$(id -u daemon)"
probe nobody-late 65534
`, { BOOTCMD: METADATA_GUARD_BOOTCMD });
    expect(r.out).toContain('bootcmd=0');
    expect(r.out).toContain('daemon-early=refused');
    expect(r.out).toContain('root-early=open');
    expect(r.out).toContain('bootcmd-again=0; jumps=1');
    expect(r.out).toContain('daemon-late=open');
    expect(r.out).toContain('nobody-late=refused');
  });
});
