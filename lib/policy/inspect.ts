/**
 * Readers the rules share: security-group and firewall permissions normalized across the ways Terraform can
 * write them, CIDR facts, IAM policy statements, decoded user-data. Pure data in, data out.
 */
import { gunzipSync } from 'node:zlib';
import { isPubliclyOpen } from '../net/cidr';
import { PolicyPlan, PolicyResource } from './rule';

/** A block list attribute as an array whatever way it was written (absent, one object, a list). */
export function asList(value: unknown): Record<string, unknown>[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}

export function asStrings(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The first element of a nested block (`metadata_options`, `root_block_device`), or an empty object. */
export function nested(value: unknown): Record<string, unknown> {
  return asList(value)[0] ?? {};
}

/** Whether a value is a Terraform expression (only known at apply time), not a literal. */
export function isExpression(value: unknown): boolean {
  return typeof value === 'string' && value.includes('${');
}

/** Terraform booleans may be written as true or "true". */
export function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

/** One inbound permission, whichever of the three AWS shapes (inline, aws_security_group_rule, VPC rule) held it. */
export interface AwsIngress {
  readonly block: PolicyResource;
  /** Where in the block, for messages: `ingress[2]` or the rule itself. */
  readonly where: string;
  /** `tcp`, `udp`, `icmp`, `-1` (all). */
  readonly protocol: string;
  /** Inclusive port range; [0, 65535] for all ports. */
  readonly ports: readonly [number, number];
  readonly cidrs: readonly string[];
  /** Security groups (or prefix lists) the traffic comes from. */
  readonly groupSources: readonly string[];
  readonly self: boolean;
  readonly description: unknown;
  /** The group the permission opens (the group's own block for inline rules). */
  readonly securityGroup: unknown;
}

const ALL_PROTOCOLS = new Set(['-1', 'all']);

function portRange(protocol: string, from: unknown, to: unknown): [number, number] {
  if (ALL_PROTOCOLS.has(protocol) || from === undefined || from === null) return [0, 65535];
  const low = Number(from);
  const high = to === undefined || to === null ? low : Number(to);
  // ICMP uses the ports as type/code; -1 means any.
  return low < 0 ? [0, 65535] : [low, high];
}

/** Every ingress permission a block declares (empty for blocks that hold none). */
export function awsIngressOf(block: PolicyResource): AwsIngress[] {
  const a = block.attributes;
  if (block.type === 'aws_security_group') {
    return asList(a.ingress).map((rule, i) => {
      const protocol = String(rule.protocol ?? '-1').toLowerCase();
      return {
        block,
        where: `ingress[${i}]`,
        protocol,
        ports: portRange(protocol, rule.from_port, rule.to_port),
        cidrs: [...asStrings(rule.cidr_blocks), ...asStrings(rule.ipv6_cidr_blocks)],
        groupSources: [...asStrings(rule.security_groups), ...asStrings(rule.prefix_list_ids)],
        self: isTrue(rule.self),
        description: rule.description,
        securityGroup: `\${${block.address}.id}`,
      };
    });
  }
  if (block.type === 'aws_security_group_rule' && a.type === 'ingress') {
    const protocol = String(a.protocol ?? '-1').toLowerCase();
    return [
      {
        block,
        where: 'rule',
        protocol,
        ports: portRange(protocol, a.from_port, a.to_port),
        cidrs: [...asStrings(a.cidr_blocks), ...asStrings(a.ipv6_cidr_blocks)],
        groupSources: [...asStrings(a.source_security_group_id), ...asStrings(a.prefix_list_ids)],
        self: isTrue(a.self),
        description: a.description,
        securityGroup: a.security_group_id,
      },
    ];
  }
  if (block.type === 'aws_vpc_security_group_ingress_rule') {
    const protocol = String(a.ip_protocol ?? '-1').toLowerCase();
    return [
      {
        block,
        where: 'rule',
        protocol,
        ports: portRange(protocol, a.from_port, a.to_port),
        cidrs: [...asStrings(a.cidr_ipv4), ...asStrings(a.cidr_ipv6)],
        groupSources: [...asStrings(a.referenced_security_group_id), ...asStrings(a.prefix_list_id)],
        self: false,
        description: a.description,
        securityGroup: a.security_group_id,
      },
    ];
  }
  return [];
}

/** The Terraform types that can hold AWS ingress permissions. */
export const AWS_INGRESS_TYPES = ['aws_security_group', 'aws_security_group_rule', 'aws_vpc_security_group_ingress_rule'];

export function rangesOverlap(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

export function describePorts(ports: readonly [number, number]): string {
  if (ports[0] === 0 && ports[1] === 65535) return 'all ports';
  return ports[0] === ports[1] ? `port ${ports[0]}` : `ports ${ports[0]}-${ports[1]}`;
}

/** One allowed protocol of a GCP firewall, with its port ranges ([0, 65535] when it names none). */
export interface GcpAllowed {
  readonly protocol: string;
  readonly ports: readonly (readonly [number, number])[];
}

export function gcpAllowedOf(firewall: PolicyResource): GcpAllowed[] {
  return asList(firewall.attributes.allow).map((allow) => {
    const given = String(allow.protocol ?? 'all').toLowerCase();
    // Firewalls accept IANA protocol numbers as well as names.
    const protocol = ({ '6': 'tcp', '17': 'udp', '1': 'icmp', '132': 'sctp' } as Record<string, string>)[given] ?? given;
    const ports = asStrings(allow.ports).map((p): [number, number] => {
      const [low, high] = p.split('-').map(Number);
      return [low, high ?? low];
    });
    return { protocol, ports: protocol === 'all' || ports.length === 0 ? [[0, 65535]] : ports };
  });
}

/** An ingress firewall with no source at all admits 0.0.0.0/0 (Google's default), so it counts as world-open. */
export function gcpIngressSources(firewall: PolicyResource): { ranges: string[]; tagged: boolean } {
  const a = firewall.attributes;
  const ranges = asStrings(a.source_ranges);
  const tagged = asStrings(a.source_tags).length > 0 || asStrings(a.source_service_accounts).length > 0;
  return { ranges: ranges.length === 0 && !tagged ? ['0.0.0.0/0'] : ranges, tagged };
}

export function isGcpIngress(firewall: PolicyResource): boolean {
  return String(firewall.attributes.direction ?? 'INGRESS').toUpperCase() === 'INGRESS';
}

/** The whole-internet sources (0.0.0.0/0, ::/0) an ingress firewall admits; none for egress rules. */
export function gcpWorldSources(firewall: PolicyResource): string[] {
  return isGcpIngress(firewall) ? gcpIngressSources(firewall).ranges.filter(isPubliclyOpen) : [];
}

/** An IAM policy statement, every list-or-string field as a list. */
export interface IamStatement {
  readonly sid: string;
  readonly effect: string;
  readonly actions: string[];
  readonly notActions: string[];
  readonly resources: string[];
  readonly notResources: string[];
  readonly principals: string[];
}

function principalValues(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (typeof value === 'object' && value !== null) {
    return Object.values(value as Record<string, unknown>).flatMap((v) => asStrings(v));
  }
  return [];
}

/**
 * The statements of an IAM policy given as JSON text, or undefined when the text is an expression (jsonencode,
 * a data source's json) that only Terraform can evaluate: rules then read the data source itself.
 */
export function iamStatements(policy: unknown, where = 'Statement'): IamStatement[] | undefined {
  if (typeof policy !== 'string') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    return undefined;
  }
  const statements = (doc as Record<string, unknown>)?.[where];
  return asList(statements).map((s, i) => ({
    sid: String(s.Sid ?? `#${i}`),
    effect: String(s.Effect ?? 'Allow'),
    actions: asStrings(s.Action),
    notActions: asStrings(s.NotAction),
    resources: asStrings(s.Resource),
    notResources: asStrings(s.NotResource),
    principals: principalValues(s.Principal),
  }));
}

/** The statements of a `data.aws_iam_policy_document` block, in the same shape. */
export function iamDocumentStatements(block: PolicyResource): IamStatement[] {
  return asList(block.attributes.statement).map((s, i) => ({
    sid: String(s.sid ?? `#${i}`),
    effect: String(s.effect ?? 'Allow'),
    actions: asStrings(s.actions),
    notActions: asStrings(s.not_actions),
    resources: asStrings(s.resources),
    notResources: asStrings(s.not_resources),
    principals: asList(s.principals).flatMap((p) => asStrings(p.identifiers)),
  }));
}

/** Blocks that carry an IAM policy document, with the attribute that holds it. */
export const AWS_IAM_POLICY_TYPES: Record<string, string> = {
  aws_iam_role_policy: 'policy',
  aws_iam_policy: 'policy',
  aws_iam_user_policy: 'policy',
  aws_iam_group_policy: 'policy',
};

/** The statements of any policy-carrying block (inline policies and policy-document data sources). */
export function statementsOf(block: PolicyResource): IamStatement[] {
  if (block.type === 'aws_iam_policy_document') return iamDocumentStatements(block);
  const attribute = AWS_IAM_POLICY_TYPES[block.type];
  return attribute ? (iamStatements(block.attributes[attribute]) ?? []) : [];
}

/**
 * Text a host receives at boot, decoded where the stack holds it encoded (base64 of gzip for AWS
 * user_data_base64). Expressions are returned as written: the literal text inside them is still searchable.
 */
export function bootTextOf(value: unknown): string {
  if (typeof value !== 'string') return '';
  if (isExpression(value) || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.replace(/\s/g, ''))) return value;
  const bytes = Buffer.from(value, 'base64');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes).toString('utf8');
    } catch {
      return value;
    }
  }
  const text = bytes.toString('utf8');
  return /^[\x09\x0a\x0d\x20-\x7e]*$/.test(text) ? text : value;
}

/** The VPC CIDR of the group a permission opens, when the stack states it as a literal. */
export function vpcCidrOfGroup(plan: PolicyPlan, group: unknown): string | undefined {
  const sg = plan.referenced(group);
  const vpc = sg ? plan.referenced(sg.attributes.vpc_id) : undefined;
  const cidr = vpc?.attributes.cidr_block;
  return typeof cidr === 'string' && !isExpression(cidr) ? cidr : undefined;
}

/**
 * Ports only cluster members may reach: slurmctld/slurmd/slurmdbd (6817-6819), slurmrestd (6820), srun's
 * range, MariaDB for accounting (3306), Lustre's LNet (988) and NFS (2049).
 */
export function clusterOnlyPorts(srunPortRange: readonly [number, number]): { name: string; ports: [number, number] }[] {
  return [
    { name: 'Slurm daemons 6817-6819', ports: [6817, 6819] },
    { name: 'slurmrestd 6820', ports: [6820, 6820] },
    { name: `srun ${srunPortRange[0]}-${srunPortRange[1]}`, ports: [srunPortRange[0], srunPortRange[1]] },
    { name: 'MariaDB 3306', ports: [3306, 3306] },
    { name: 'Lustre LNet 988', ports: [988, 988] },
    { name: 'NFS 2049', ports: [2049, 2049] },
  ];
}

/** Key material and credentials that must never sit in a plan or in what a host receives at boot. */
export const SECRET_PATTERNS: readonly { what: string; pattern: RegExp }[] = [
  { what: 'a private key', pattern: /-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----/ },
  { what: 'an AWS access key id', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: 'a Tailscale key', pattern: /\btskey-(?:auth|api|client)-[A-Za-z0-9]/ },
  { what: 'a Grafana admin password setting', pattern: /GF_SECURITY_ADMIN_PASSWORD=\S|^\s*admin_password\s*=\s*\S/im },
  { what: 'a slurmdbd StoragePass value', pattern: /^StoragePass=\S/m },
  { what: 'a MySQL password on a command line', pattern: /\bmysql[^\n]*\s-p[^\s'"]/ },
  { what: 'a JWT signing key', pattern: /\bjwt_key=[A-Za-z0-9+/]{16,}/ },
];

/** What in `text` looks like a secret, by description. */
export function secretsIn(text: string): string[] {
  return SECRET_PATTERNS.filter((p) => p.pattern.test(text)).map((p) => p.what);
}

/** Names that say a value is a secret (environment variables, parameter names). */
export const SECRET_NAME =
  /(^|[^A-Za-z0-9])(pass(word|wd)?|secret|token|private[-_]?key|auth[-_]?key|api[-_]?key|munge[-_]?key|jwt([-_]?key)?)([^A-Za-z0-9]|$)/i;

/** Compute Engine blocks whose metadata, identity and NICs are set on the block itself. */
export const GCP_VM_TYPES = ['google_compute_instance', 'google_compute_instance_template'];

/**
 * Instances made from a template inherit everything they do not set; a rule that requires a setting checks
 * them only where they override the block holding it.
 */
export const GCP_FROM_TEMPLATE = 'google_compute_instance_from_template';

export function inheritsFromTemplate(block: PolicyResource, attribute: string): boolean {
  return block.type === GCP_FROM_TEMPLATE && block.attributes[attribute] === undefined;
}

/** A metadata value of a Compute Engine block (`metadata` map), or undefined. */
export function gcpMetadata(block: PolicyResource, key: string): unknown {
  const metadata = block.attributes.metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[key] : undefined;
}
