import { SECRET_NAME, asStrings, isExpression } from '../../inspect';
import { defineRule } from '../../rule';

export const NoSecretsInEnvironment = defineRule({
  id: 'DOCKER-SECRET-ENV',
  pack: 'docker',
  explanation: 'Secrets must not be passed as container environment: docker inspect, /proc and crash dumps show them.',
  fix: 'Upload the secret as a file (upload with a Terraform reference as content) and point the variable at its path.',
  appliesTo: ['docker_container'],
  check: (c) =>
    asStrings(c.attributes.env)
      .map((entry) => entry.split('='))
      .filter(([name, ...value]) => SECRET_NAME.test(name) && !/_(FILE|PATH)$/.test(name) && value.join('=') !== '')
      .map(([name, ...value]) => `env ${name} carries ${isExpression(value.join('=')) ? 'a secret reference' : 'a literal'}`),
});
