import { asStrings, nested } from '../../inspect';
import { defineRule } from '../../rule';

/** Capabilities that give a container a way out to the host. */
const ESCAPE_CAPABILITIES = ['ALL', 'SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'SYS_RAWIO', 'NET_ADMIN', 'DAC_READ_SEARCH', 'BPF'];

/**
 * A slurmd container needs some of these (the mesh's tun device wants NET_ADMIN; cgroup and mount work wants
 * SYS_ADMIN): that is a decision to write down with a suppression, not a default.
 */
export const ContainerConfinement = defineRule({
  id: 'DOCKER-CONFINEMENT',
  pack: 'docker',
  explanation: 'Node containers keep their confinement: no host-escape capabilities, no unconfined AppArmor or seccomp.',
  fix: 'Drop the capabilities and security_opts; where slurmd needs them, suppress with the reason.',
  appliesTo: ['docker_container'],
  check: (c) => {
    const added = asStrings(nested(c.attributes.capabilities).add).map((cap) => cap.toUpperCase().replace(/^CAP_/, ''));
    return [
      ...added.filter((cap) => ESCAPE_CAPABILITIES.includes(cap)).map((cap) => `capabilities.add has ${cap}`),
      ...asStrings(c.attributes.security_opts)
        .filter((o) => /^(apparmor|seccomp)[=:]unconfined$/.test(o))
        .map((o) => `security_opts has ${o}`),
    ];
  },
});
