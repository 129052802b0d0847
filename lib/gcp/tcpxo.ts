/**
 * GPUDirect-TCPXO on Google Cloud A3 Mega (`a3-megagpu-8g`: 8 x H100, 8 GPU NICs + 1 system NIC): the
 * settings a pool gives, their checks, the NCCL profile jobs source and the node.env entries read by
 * `bootstrap-scripts/gcp/tcpxo.sh` (boot step), `gcp/tcpxo-prolog.sh` and `gcp/tcpxo-epilog.sh` (Slurm).
 * Pure: no cdktf, so the GCP backend and tests use it alike.
 *
 * Facts and where they come from (checked 2026):
 * - Image pair: GoogleCloudPlatform/slurm-gcp `tools/prologs-epilogs/receive-data-path-manager-mega`, the
 *   prolog Cluster Toolkit's A3 Mega Slurm blueprint
 *   (GoogleCloudPlatform/cluster-toolkit `examples/machine-learning/a3-megagpu-8g/a3mega-slurm-blueprint.yaml`)
 *   installs, pins `tcpgpudmarxd-dev:v1.0.16` with `nccl-plugin-gpudirecttcpx-dev:v1.0.10`. Google releases the
 *   RxDM and the plugin as a coupled pair (GoogleCloudPlatform/container-engine-accelerators
 *   `gpudirect-tcpxo/README.md`): change both together.
 * - NIC names on Google's Ubuntu Slurm images: `enp0s12` (system NIC) and `enp6s0 … enp142s0` (GPU NICs), from
 *   cluster-toolkit `examples/machine-learning/a3-megagpu-8g/nccl-tests/run-nccl-tests.sh`. Other images
 *   (COS, GKE, Rocky) name them `eth0` / `eth1..eth8`: the names are data.
 * - NCCL tuning: Google's `nccl-env-profile.sh` and `nccl-env-profile-simple.sh` (google/nccl-plugin-gpudirect-tcpxo
 *   `tcpxo_scripts/`) and the per-release lists in the container-engine-accelerators release notes for the
 *   plugin versions around v1.0.10 (v1.0.9-1, May 2025, and v1.0.11, June 2025).
 * - Aperture devices: PCI `1ae0:0084`, each bind-mounted from sysfs to `/dev/aperture_devices/<PCI address>`
 *   (the blueprint's udev rule); the `import-helper` kernel module from the `dmabuf-import-helper` DKMS package.
 */
import { SlurmConfigError, type ConfigIssue } from '../slurm/errors';

/**
 * Google ships two NCCL profiles with the plugin; each must be paired with its own tuner and guest-config
 * files, because the plugin's guest config checker aborts a workload whose variables contradict its file.
 * - `default`: `nccl-env-profile.sh`, LL128 enabled (`NCCL_PROTO=Simple,LL128`), the profile Google's Slurm
 *   job examples source.
 * - `simple`: `nccl-env-profile-simple.sh`, `NCCL_PROTO=Simple` with the `_simple` tuner and guest configs.
 */
export type TcpxoNcclProfile = 'default' | 'simple';

export interface TcpxoSettings {
  /**
   * Receive Data Path Manager (RxDM, "TCPXO daemon") image, run by the Slurm prolog for each multi-node job.
   * Pinned: a version tag or an `@sha256:` digest, never `latest`. Change it together with `ncclPluginImage`.
   * @default DEFAULT_TCPXO_RXDM_IMAGE (the version slurm-gcp's A3 Mega prolog pins)
   */
  readonly rxdmImage?: string;
  /**
   * NCCL FasTrak plugin installer image; its `install --install-nccl` copies NCCL, the net plugin, the tuner
   * plugin and their config files into `pluginDir`. Pinned like `rxdmImage`.
   * @default DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE
   */
  readonly ncclPluginImage?: string;
  /**
   * The 8 GPU NIC names in NIC order (the order `NCCL_FASTRAK_IFNAME` lists them), as the node's OS names them.
   * @default DEFAULT_TCPXO_DATA_NICS (Google's Ubuntu Slurm images)
   */
  readonly dataNicNames?: readonly string[];
  /**
   * The system NIC (gVNIC on the system VPC): FasTrak's control channel and NCCL's bootstrap sockets.
   * @default DEFAULT_TCPXO_CONTROL_NIC
   */
  readonly controlNic?: string;
  /**
   * How long the prolog waits for RxDM's "Buffer manager initialization complete" before it drains the node
   * and fails the job's prolog. 10..900 s; keep it below slurm.conf's `PrologEpilogTimeout`.
   * @default DEFAULT_TCPXO_RXDM_READY_TIMEOUT_SECONDS
   */
  readonly rxdmReadyTimeoutSeconds?: number;
  /**
   * Where the plugin installer's libraries land on the node; prepended to `LD_LIBRARY_PATH` by the profile.
   * @default DEFAULT_TCPXO_PLUGIN_DIR
   */
  readonly pluginDir?: string;
  /**
   * Which of Google's NCCL profiles the tuning set follows.
   * @default 'default'
   */
  readonly ncclProfile?: TcpxoNcclProfile;
  /**
   * NCCL variables merged over the profile's tuning set (`NCCL_*` keys only). An empty string removes the
   * variable from the profile, e.g. `{ NCCL_ALGO: '' }` to let NCCL and the tuner plugin choose. The NIC and
   * aperture variables come from `dataNicNames`, `controlNic` and the device directory and can't be set here.
   * @default {} (Google's tuning set unchanged)
   */
  readonly ncclTuning?: Readonly<Record<string, string>>;
}

/** Settings with every default applied and checked; `ncclTuning` is the final tuning set. */
export interface ResolvedTcpxoSettings {
  readonly rxdmImage: string;
  readonly ncclPluginImage: string;
  readonly dataNicNames: readonly string[];
  readonly controlNic: string;
  readonly rxdmReadyTimeoutSeconds: number;
  readonly pluginDir: string;
  readonly ncclProfile: TcpxoNcclProfile;
  readonly ncclTuning: Readonly<Record<string, string>>;
}

const REGISTRY = 'us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo';
export const DEFAULT_TCPXO_RXDM_IMAGE = `${REGISTRY}/tcpgpudmarxd-dev:v1.0.16`;
export const DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE = `${REGISTRY}/nccl-plugin-gpudirecttcpx-dev:v1.0.10`;
export const DEFAULT_TCPXO_DATA_NICS: readonly string[] = Object.freeze([
  'enp6s0', 'enp7s0', 'enp13s0', 'enp14s0', 'enp134s0', 'enp135s0', 'enp141s0', 'enp142s0',
]);
export const DEFAULT_TCPXO_CONTROL_NIC = 'enp0s12';
/** slurm-gcp's prolog polls 60 times, 2 s apart. */
export const DEFAULT_TCPXO_RXDM_READY_TIMEOUT_SECONDS = 120;
export const DEFAULT_TCPXO_PLUGIN_DIR = '/var/lib/tcpxo/lib64';
export const DEFAULT_TCPXO_NCCL_PROFILE: TcpxoNcclProfile = 'default';

/** Where `tcpxo.sh` bind-mounts the aperture devices; `NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY`. */
export const TCPXO_APERTURE_DEVICES_DIR = '/dev/aperture_devices';
/** PCI `vendor:device` of the aperture devices. */
export const TCPXO_APERTURE_PCI_ID = '1ae0:0084';
/** Where cloud-init writes {@link renderNcclTcpxoProfile}'s output; job scripts source it. */
export const NCCL_TCPXO_PROFILE_PATH = '/etc/profile.d/nccl-tcpxo.sh';

/**
 * Where `tcpxo.sh` installs the RxDM prolog and epilog on A3 Mega nodes. The cluster's slurm.conf must run
 * every script of these directories: `Prolog=/etc/slurm/prolog.d/*` and `Epilog=/etc/slurm/epilog.d/*`
 * (absolute paths: configless slurmd runs local files and only ships relative ones). Google's A3 Mega
 * slurm.conf (cluster-toolkit `long-prolog-slurm.conf.tpl`) sets `PrologFlags=Contain` — which implies
 * `Alloc`, so the prolog runs on every node at allocation, before any step — with `PrologEpilogTimeout=600`,
 * `BatchStartTimeout=600` and `MessageTimeout=600` so a slow RxDM start does not time the job out.
 * A failing prolog makes Slurm drain the node and requeue (and hold) the job.
 */
export const TCPXO_PROLOG_PATH = '/etc/slurm/prolog.d/50-tcpxo-rxdm.sh';
/** @see TCPXO_PROLOG_PATH */
export const TCPXO_EPILOG_PATH = '/etc/slurm/epilog.d/50-tcpxo-rxdm.sh';

/** Variables the profile sets from other fields; `ncclTuning` may not override them. */
const NIC_VARIABLES: Readonly<Record<string, string>> = {
  NCCL_FASTRAK_CTRL_DEV: 'controlNic',
  NCCL_FASTRAK_IFNAME: 'dataNicNames',
  NCCL_SOCKET_IFNAME: 'controlNic',
  NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY: `the aperture device directory (${TCPXO_APERTURE_DEVICES_DIR}, fixed)`,
};

/**
 * Google's tuning set for the pinned plugin, by profile. No `CUDA_VISIBLE_DEVICES` (Google's profile pins it
 * to 0-7): under Slurm, GRES sets it for the GPUs the job holds, and the profile is read by login shells too.
 * No `NCCL_NET`: NCCL finds the plugin's `libnccl-net.so` through `LD_LIBRARY_PATH`, as Google's profile does.
 */
export function defaultTcpxoNcclTuning(profile: TcpxoNcclProfile, pluginDir: string): Record<string, string> {
  const suffix = profile === 'simple' ? '_simple' : '';
  return {
    NCCL_ALGO: 'Ring,Tree',
    NCCL_BUFFSIZE: '8388608',
    NCCL_CROSS_NIC: '0',
    NCCL_DEBUG: 'WARN',
    NCCL_DEBUG_SUBSYS: 'INIT,NET,ENV,COLL,GRAPH',
    NCCL_DYNAMIC_CHUNK_SIZE: '524288',
    NCCL_FASTRAK_ENABLE_CONTROL_CHANNEL: '0',
    NCCL_FASTRAK_ENABLE_HOTPATH_LOGGING: '0',
    NCCL_FASTRAK_NUM_FLOWS: '2',
    NCCL_FASTRAK_PLUGIN_ACCEPT_TIMEOUT_MS: '600000',
    NCCL_FASTRAK_USE_LLCM: '1',
    NCCL_FASTRAK_USE_SNAP: '1',
    NCCL_MIN_NCHANNELS: '4',
    NCCL_NET_GDR_LEVEL: 'PIX',
    NCCL_NVLS_ENABLE: '0',
    NCCL_P2P_NET_CHUNKSIZE: '524288',
    NCCL_P2P_NVL_CHUNKSIZE: '1048576',
    NCCL_P2P_PCI_CHUNKSIZE: '524288',
    NCCL_PROTO: profile === 'simple' ? 'Simple' : 'Simple,LL128',
    NCCL_SHIMNET_GUEST_CONFIG_CHECKER_CONFIG_FILE: `${pluginDir}/a3plus_guest_config${suffix}.textproto`,
    NCCL_TUNER_CONFIG_PATH: `${pluginDir}/a3plus_tuner_config${suffix}.textproto`,
    NCCL_TUNER_PLUGIN: 'libnccl-tuner.so',
  };
}

const NIC_NAME = /^[a-z][a-z0-9]{1,14}$/;
const TUNING_KEY = /^NCCL_[A-Z0-9_]+$/;
const CONTROL = /[\x00-\x1f\x7f]/;
/** Absolute path of plain segments: it goes into node.env and LD_LIBRARY_PATH unquoted. */
const PLUGIN_DIR = /^(\/[A-Za-z0-9._-]+)+$/;
/** Tags that move: pulling one on two nodes can give two versions. */
const MOVING_TAGS = new Set(['latest', 'master', 'main', 'stable', 'nightly']);
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Why `ref` is not a pinned image reference `registry/path[:tag][@sha256:…]`, or undefined when it is. */
function imageProblem(ref: unknown): string | undefined {
  if (typeof ref !== 'string' || ref.length === 0) return 'is not an image reference';
  const [nameTag, digest, extra] = ref.split('@');
  if (extra !== undefined || (digest !== undefined && !DIGEST.test(digest))) {
    return 'has a malformed digest (expected @sha256: and 64 lower-case hex digits)';
  }
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const tag = colon > slash ? nameTag.slice(colon + 1) : undefined;
  const repository = colon > slash ? nameTag.slice(0, colon) : nameTag;
  if (!REPOSITORY.test(repository)) {
    return 'is not a full image reference (registry host, path in lower case, then :tag or @sha256:digest)';
  }
  if (tag !== undefined && !TAG.test(tag)) return `has an invalid tag ${JSON.stringify(tag)}`;
  if (digest === undefined && tag === undefined) return 'is not pinned: it has no tag, so Docker pulls "latest"';
  if (digest === undefined && tag !== undefined && MOVING_TAGS.has(tag.toLowerCase())) {
    return `is not pinned: "${tag}" is a moving tag, so nodes booted on different days can run different versions`;
  }
  return undefined;
}

/** The plain value node.env and the scripts accept (letters, digits, `/:._@-` and spaces). */
const PLAIN = /^[A-Za-z0-9/:._@ -]+$/;

/**
 * Applies the defaults and checks every field.
 * @param where prefix of error lines, e.g. the pool's construct path
 * @throws SlurmConfigError listing every bad field with its value and the fix
 */
export function resolveTcpxoSettings(settings: TcpxoSettings | undefined, where: string): ResolvedTcpxoSettings {
  const s = settings ?? {};
  const issues: ConfigIssue[] = [];
  const rxdmImage = s.rxdmImage ?? DEFAULT_TCPXO_RXDM_IMAGE;
  const ncclPluginImage = s.ncclPluginImage ?? DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE;
  const dataNicNames = s.dataNicNames ?? DEFAULT_TCPXO_DATA_NICS;
  const controlNic = s.controlNic ?? DEFAULT_TCPXO_CONTROL_NIC;
  const timeout = s.rxdmReadyTimeoutSeconds ?? DEFAULT_TCPXO_RXDM_READY_TIMEOUT_SECONDS;
  const pluginDir = s.pluginDir ?? DEFAULT_TCPXO_PLUGIN_DIR;
  const ncclProfile = s.ncclProfile ?? DEFAULT_TCPXO_NCCL_PROFILE;
  const overrides = s.ncclTuning ?? {};

  for (const [field, ref, example] of [
    ['rxdmImage', rxdmImage, DEFAULT_TCPXO_RXDM_IMAGE],
    ['ncclPluginImage', ncclPluginImage, DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE],
  ] as const) {
    const problem = imageProblem(ref);
    if (problem !== undefined) {
      issues.push({
        field,
        value: ref,
        problem,
        fix: `Give a version tag or digest from Google's GPUDirect-TCPXO release notes, e.g. '${example}', or leave ${field} out. Change rxdmImage and ncclPluginImage together: Google releases them as a pair.`,
      });
    }
  }

  const nicsOk = Array.isArray(dataNicNames) && dataNicNames.length === 8 &&
    dataNicNames.every((n) => typeof n === 'string' && NIC_NAME.test(n)) && new Set(dataNicNames).size === 8;
  if (!nicsOk) {
    issues.push({
      field: 'dataNicNames',
      value: dataNicNames,
      problem: 'needs exactly 8 distinct interface names, each matching /^[a-z][a-z0-9]{1,14}$/',
      fix: `Give the 8 GPU NIC names in NIC order as the node's OS shows them (ip -br link), e.g. ${JSON.stringify(DEFAULT_TCPXO_DATA_NICS)} on Google's Ubuntu images or eth1..eth8 on COS/Rocky, or leave dataNicNames out.`,
    });
  }
  if (typeof controlNic !== 'string' || !NIC_NAME.test(controlNic)) {
    issues.push({
      field: 'controlNic',
      value: controlNic,
      problem: 'is not an interface name matching /^[a-z][a-z0-9]{1,14}$/',
      fix: `Give the system NIC's name, e.g. '${DEFAULT_TCPXO_CONTROL_NIC}' on Google's Ubuntu images or 'eth0', or leave controlNic out.`,
    });
  } else if (Array.isArray(dataNicNames) && dataNicNames.includes(controlNic)) {
    issues.push({
      field: 'controlNic',
      value: controlNic,
      problem: 'is also listed in dataNicNames; the system NIC carries FasTrak control traffic, not GPU data',
      fix: 'Use the system (first) NIC for controlNic and the 8 GPU NICs for dataNicNames.',
    });
  }
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 10 || timeout > 900) {
    issues.push({
      field: 'rxdmReadyTimeoutSeconds',
      value: timeout,
      problem: 'must be a whole number of seconds from 10 to 900',
      fix: `Use e.g. ${DEFAULT_TCPXO_RXDM_READY_TIMEOUT_SECONDS} (RxDM usually initializes within a minute) and keep it below slurm.conf's PrologEpilogTimeout.`,
    });
  }
  const segments = typeof pluginDir === 'string' ? pluginDir.split('/').slice(1) : [];
  if (typeof pluginDir !== 'string' || !PLUGIN_DIR.test(pluginDir) || segments.some((p) => p === '.' || p === '..')) {
    issues.push({
      field: 'pluginDir',
      value: pluginDir,
      problem: 'must be an absolute directory path of letters, digits and ._- segments (no "..", no spaces or ":")',
      fix: `Use e.g. '${DEFAULT_TCPXO_PLUGIN_DIR}', or leave pluginDir out.`,
    });
  }
  if (ncclProfile !== 'default' && ncclProfile !== 'simple') {
    issues.push({
      field: 'ncclProfile',
      value: ncclProfile,
      problem: 'is neither "default" nor "simple"',
      fix: 'Use "default" (Google\'s LL128 profile) or "simple" (NCCL_PROTO=Simple with the _simple tuner and guest configs).',
    });
  }
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    issues.push({ field: 'ncclTuning', value: overrides, problem: 'is not an object', fix: "Give NCCL variables as { NCCL_NAME: 'value' }." });
  } else {
    for (const [key, value] of Object.entries(overrides)) {
      const field = `ncclTuning.${key}`;
      if (!TUNING_KEY.test(key)) {
        issues.push({
          field,
          value,
          problem: `key ${JSON.stringify(key)} is not an NCCL variable name matching /^NCCL_[A-Z0-9_]+$/`,
          fix: 'Only NCCL_* variables belong in the NCCL profile; set other variables in the job script.',
        });
      } else if (key in NIC_VARIABLES) {
        issues.push({
          field,
          value,
          problem: `${key} is set from ${NIC_VARIABLES[key]}`,
          fix: `Drop ${key} from ncclTuning${NIC_VARIABLES[key].startsWith('the ') ? '' : ` and set ${NIC_VARIABLES[key]} instead`}.`,
        });
      } else if (typeof value !== 'string' || CONTROL.test(value)) {
        issues.push({
          field,
          value,
          problem: 'must be a single-line string',
          fix: `Give the value as a string without line breaks, e.g. '4', or '' to remove ${key} from the profile.`,
        });
      }
    }
  }
  if (issues.length > 0) throw new SlurmConfigError(issues, where);

  const tuning: Record<string, string> = { ...defaultTcpxoNcclTuning(ncclProfile, pluginDir) };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === '') delete tuning[key];
    else tuning[key] = value;
  }
  return {
    rxdmImage,
    ncclPluginImage,
    dataNicNames: Object.freeze([...dataNicNames]),
    controlNic,
    rxdmReadyTimeoutSeconds: timeout,
    pluginDir,
    ncclProfile,
    ncclTuning: Object.freeze(tuning),
  };
}

/** POSIX single quotes: `'` becomes `'\''`. */
function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The NCCL environment for TCPXO jobs, as POSIX sh (dash reads /etc/profile.d too): the NIC variables, the
 * aperture device directory, the tuning set sorted by name, and the plugin directory prepended to
 * `LD_LIBRARY_PATH` once (sourcing it again does not grow the path). cloud-init writes it to
 * {@link NCCL_TCPXO_PROFILE_PATH}; multi-node job scripts source it before `srun`.
 */
export function renderNcclTcpxoProfile(resolved: ResolvedTcpxoSettings): string {
  const lines = [
    '# NCCL over GPUDirect-TCPXO (A3 Mega). Written by cdktf-slurm (lib/gcp/tcpxo.ts); do not edit.',
    `# Google's "${resolved.ncclProfile}" tuning set for ${resolved.ncclPluginImage}.`,
    `# Job scripts: . ${NCCL_TCPXO_PROFILE_PATH} (multi-node jobs only get RxDM from the Slurm prolog).`,
    `export NCCL_FASTRAK_CTRL_DEV=${shQuote(resolved.controlNic)}`,
    `export NCCL_FASTRAK_IFNAME=${shQuote(resolved.dataNicNames.join(','))}`,
    `export NCCL_SOCKET_IFNAME=${shQuote(resolved.controlNic)}`,
    `export NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY=${shQuote(TCPXO_APERTURE_DEVICES_DIR)}`,
  ];
  for (const key of Object.keys(resolved.ncclTuning).sort()) {
    lines.push(`export ${key}=${shQuote(resolved.ncclTuning[key])}`);
  }
  const dir = resolved.pluginDir;
  lines.push(
    'case ":${LD_LIBRARY_PATH:-}:" in',
    `  *":${dir}:"*) ;;`,
    `  *) LD_LIBRARY_PATH="${dir}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH ;;`,
    'esac',
  );
  return lines.join('\n') + '\n';
}

/**
 * node.env entries the TCPXO scripts read. `TCPXO_ENABLED=1` turns the boot step and the prolog on; the
 * NIC names are space-separated. Values are plain text, so node.env's secret check never trips on them.
 */
export function tcpxoNodeEnv(resolved: ResolvedTcpxoSettings): Record<string, string> {
  const env: Record<string, string> = {
    TCPXO_ENABLED: '1',
    TCPXO_RXDM_IMAGE: resolved.rxdmImage,
    TCPXO_NCCL_PLUGIN_IMAGE: resolved.ncclPluginImage,
    TCPXO_DATA_NICS: resolved.dataNicNames.join(' '),
    TCPXO_CONTROL_NIC: resolved.controlNic,
    TCPXO_RXDM_TIMEOUT: String(resolved.rxdmReadyTimeoutSeconds),
    TCPXO_PLUGIN_DIR: resolved.pluginDir,
  };
  for (const [key, value] of Object.entries(env)) {
    // Guards a ResolvedTcpxoSettings built by hand rather than by resolveTcpxoSettings.
    if (!PLAIN.test(value)) {
      throw new Error(`tcpxoNodeEnv: ${key} = ${JSON.stringify(value)}: is not plain text (letters, digits, /:._@- and spaces). Build the settings with resolveTcpxoSettings().`);
    }
  }
  return env;
}
