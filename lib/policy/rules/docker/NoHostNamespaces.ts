import { defineRule } from '../../rule';

const NAMESPACES = ['network_mode', 'pid_mode', 'ipc_mode', 'userns_mode', 'cgroupns_mode'];

export const NoHostNamespaces = defineRule({
  id: 'DOCKER-NO-HOST-NAMESPACES',
  pack: 'docker',
  explanation: "Node containers must not share the host's network, PID, IPC, user or cgroup namespace: the host's become theirs.",
  fix: 'Use network_mode = "bridge" (the mesh gives the node its cluster address) and leave the other modes unset.',
  appliesTo: ['docker_container'],
  check: (c) => NAMESPACES.filter((n) => c.attributes[n] === 'host').map((n) => `${n} is "host"`),
});
