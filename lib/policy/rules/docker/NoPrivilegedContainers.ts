import { isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const NoPrivilegedContainers = defineRule({
  id: 'DOCKER-NO-PRIVILEGED',
  pack: 'docker',
  explanation: 'Node containers must not run privileged: that is root on the GPU host, every device and the host kernel.',
  fix: 'Set privileged = false and add the one device or capability needed (the GPU through gpus, /dev/net/tun for the mesh).',
  appliesTo: ['docker_container'],
  check: (c) => (isTrue(c.attributes.privileged) ? ['privileged is true'] : []),
});
