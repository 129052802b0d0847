import { asList, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

const ALL_INTERFACES = [undefined, '', '0.0.0.0', '::'];

export const NoPublishedPorts = defineRule({
  id: 'DOCKER-NO-PUBLIC-PORTS',
  pack: 'docker',
  explanation: "Node containers must not publish ports on all of the host's interfaces: Slurm traffic goes over the mesh.",
  fix: 'Remove the ports (or bind them to 127.0.0.1 with ports.ip) and set publish_all_ports = false.',
  appliesTo: ['docker_container'],
  check: (c) => [
    ...(isTrue(c.attributes.publish_all_ports) ? ['publish_all_ports is true'] : []),
    ...asList(c.attributes.ports)
      .filter((p) => ALL_INTERFACES.includes(p.ip as string | undefined))
      .map((p) => `port ${String(p.internal)} is published on ${String(p.ip ?? '0.0.0.0')}`),
  ],
});
