/**
 * One `DockerProvider` per distinct Docker host in a stack, shared by every pool placed on that host.
 */
import { DockerProvider } from '@cdktf/provider-docker/lib/provider';
import { TerraformStack, Token } from 'cdktf';
import { IConstruct } from 'constructs';
import { createHash } from 'crypto';
import { terraformExpressionOf } from '../cdktf-adapter';

/** Docker's own default; the Terraform run must then happen on the GPU host itself. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

const providers = new WeakMap<TerraformStack, Map<string, DockerProvider>>();

/** Why `host` is not a Docker daemon address the provider takes, or undefined when it is. */
export function dockerHostProblem(host: string): string | undefined {
  if (Token.isUnresolved(host)) return undefined;
  if (host.trim() === '') return 'is empty: no Docker host given';
  if (!/^(unix:\/\/\/\S+|ssh:\/\/\S+@[^\s/]+(:\d+)?|tcp:\/\/[^\s/]+:\d+|npipe:\/\/\S+)$/.test(host)) {
    return 'is not a Docker daemon address (unix:///path, ssh://user@host[:port] or tcp://host:port)';
  }
  return undefined;
}

/**
 * The stack's provider for `host`, created on first use with an alias derived from the host, so the same
 * host always maps to the same alias (a changed alias would make Terraform replace the host's containers).
 */
export function dockerProviderFor(scope: IConstruct, host: string): DockerProvider {
  const stack = TerraformStack.of(scope);
  let byHost = providers.get(stack);
  if (!byHost) {
    byHost = new Map();
    providers.set(stack, byHost);
  }
  const existing = byHost.get(host);
  if (existing) return existing;
  // A reference is hashed as the Terraform expression it resolves to (`${var.docker_host}`), not as its token
  // string, whose number shifts whenever another token is made first.
  const key = Token.isUnresolved(host) ? terraformExpressionOf(scope, host) : host;
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 8);
  const readable = Token.isUnresolved(host) ? 'var' : host.replace(/^[a-z]+:\/\//, '').replace(/[^A-Za-z0-9]+/g, '_').slice(0, 24);
  const alias = `docker_${readable}_${digest}`.toLowerCase();
  const provider = new DockerProvider(stack, `DockerHost-${digest}`, { alias, host });
  byHost.set(host, provider);
  return provider;
}
