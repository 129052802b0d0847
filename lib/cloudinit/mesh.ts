/** The mesh (Tailscale) settings a host's node.env carries; pure, so any placement can render them. */

/** The mesh settings pools use, with defaults applied. */
export interface ResolvedTailscaleMesh {
  readonly authKey: string;
  readonly loginServer?: string;
  readonly tags: readonly string[];
  readonly controllerAddress: string;
  readonly version?: string;
  /** Secret-store name of the auth key (read by the controller only). */
  readonly authKeySecretName: string;
}

/** node.env entries `tailscale.sh` reads (the auth key by reference). */
export function tailscaleEnv(mesh: ResolvedTailscaleMesh, authKeySource: string): Record<string, string> {
  const env: Record<string, string> = { TAILSCALE_AUTHKEY_SOURCE: authKeySource };
  if (mesh.loginServer) env.TAILSCALE_LOGIN_SERVER = mesh.loginServer;
  if (mesh.tags.length > 0) env.TAILSCALE_TAGS = mesh.tags.join(',');
  if (mesh.version) env.TAILSCALE_VERSION = mesh.version;
  return env;
}
