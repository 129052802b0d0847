import { DockerProvider } from '@cdktf/provider-docker/lib/provider';
import { Container } from '@cdktf/provider-docker/lib/container';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, LocalBackend, TerraformOutput, TerraformStack, Testing } from 'cdktf';
import * as fs from 'fs';
import * as path from 'path';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { awsOnly, awsValidationAvailability, formatDiagnostics, validateAws } from './validate-aws';

const availability = awsValidationAvailability();
if (!availability.ok) {
  // eslint-disable-next-line no-console
  console.warn(`\n!!! SKIPPING terraform validate tests: ${availability.reason}\n`);
}
const withTerraform = availability.ok ? it : it.skip;

/** The stack's cdk.tf.json as cdktf writes it, with an explicit local backend in the terraform block. */
function stackJson(build: (stack: TerraformStack) => void): Record<string, any> {
  const app = new App({ outdir: Testing.app().outdir });
  const stack = new TerraformStack(app, 'validate');
  new LocalBackend(stack, { path: 'terraform.validate.tfstate' });
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  build(stack);
  const outdir = Testing.fullSynth(stack);
  return JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'validate', 'cdk.tf.json'), 'utf8'));
}

describe('where terraform or the mirror is missing', () => {
  it.each([
    [{ terraformBin: '/nonexistent/terraform' }, /terraform not runnable as '\/nonexistent\/terraform'/],
    [{ mirrorDir: '/nonexistent-mirror' }, /no AWS provider in the filesystem mirror \(looked for \/nonexistent-mirror\//],
  ])('skips loudly with %j', (options, reason) => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const result = validateAws({ resource: {} }, options);
      expect(result).toEqual({ skipped: true, reason: expect.stringMatching(reason) });
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('terraform validate SKIPPED'));
    } finally {
      warn.mockRestore();
    }
  });
});

describe('awsOnly', () => {
  const synthesized = {
    '//': { metadata: { stackName: 'x' } },
    terraform: {
      backend: { local: { path: '/somewhere/terraform.x.tfstate' } },
      required_providers: { aws: { source: 'aws', version: '5.100.0' }, docker: { source: 'kreuzwerker/docker', version: '3.0.2' } },
    },
    provider: { aws: [{ region: 'us-east-1' }], docker: [{ host: 'unix:///var/run/docker.sock' }] },
    data: { docker_image: { img: { name: 'ubuntu' } }, aws_region: { r: {} } },
    resource: {
      docker_container: { node: { name: 'n', image: '${data.docker_image.img.id}' }, node2: { name: 'n2', image: 'x' } },
      aws_ssm_parameter: {
        // Names a dropped resource: must go too, and what names it after that.
        addr: { name: '/x', type: 'String', value: '${docker_container.node.network_data[0].ip_address}' },
        // Only a prefix of a dropped name: must stay.
        keep: { name: '/y', type: 'String', value: '${data.aws_region.r.name}', depends_on: ['aws_vpc.v'] },
      },
      aws_vpc: { v: { cidr_block: '10.0.0.0/16' } },
      aws_s3_bucket: { b: { bucket: 'b', tags: { ip: '${aws_ssm_parameter.addr.value}' } } },
    },
    locals: { nodeName: '${docker_container.node2.name}', plain: 'x' },
    output: {
      ip: { value: '${aws_ssm_parameter.addr.value}' },
      region: { value: '${data.aws_region.r.name}' },
      later: { value: 'x', depends_on: ['docker_container.node'] },
      viaLocal: { value: '${local.nodeName}' },
    },
  };

  const { config, dropped } = awsOnly(synthesized);

  it('keeps only the AWS provider and aws_ types, without a backend', () => {
    expect(Object.keys(config.provider)).toEqual(['aws']);
    expect(Object.keys(config.terraform.required_providers)).toEqual(['aws']);
    expect(config.terraform.backend).toBeUndefined();
    expect(Object.keys(config.resource).sort()).toEqual(['aws_ssm_parameter', 'aws_vpc']);
    expect(Object.keys(config.resource.aws_ssm_parameter)).toEqual(['keep']);
    expect(Object.keys(config.data)).toEqual(['aws_region']);
    expect(config.locals).toEqual({ plain: 'x' });
    expect(Object.keys(config.output)).toEqual(['region']);
  });

  it('says what it dropped and why', () => {
    expect(dropped).toEqual(expect.arrayContaining([
      'terraform.backend local: validating needs no state',
      'terraform.required_providers.docker (kreuzwerker/docker): not in the offline mirror',
      'provider docker: not in the offline mirror',
      'resource docker_container.node: not an AWS type',
      'data docker_image.img: not an AWS type',
      'resource aws_ssm_parameter.addr: references dropped docker_container.node',
      'resource aws_s3_bucket.b: references dropped aws_ssm_parameter.addr',
      'local nodeName: references dropped docker_container.node2',
      'output viaLocal: references dropped local.nodeName',
      'output later: references dropped docker_container.node',
    ]));
    expect(dropped.some((d) => d.includes('aws_ssm_parameter.keep') || d.includes('output region'))).toBe(false);
  });

  it('does not modify its input', () => {
    expect(synthesized.resource.docker_container.node.name).toBe('n');
    expect(synthesized.terraform.backend).toBeDefined();
  });
});

describe('terraform validate (offline, real AWS provider schema)', () => {
  // One stack holds both access modes, so one init + validate covers them.
  const both = () => stackJson((stack) => {
    new BastionVpc(stack, 'SshNetwork', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.0/24', '198.51.100.7/32'], keyName: 'ops' });
    new BastionVpc(stack, 'SsmNetwork', { cidr: '10.1.0.0/16', availabilityZoneCount: 2, bastionInstanceType: 't4g.micro' });
    new DockerProvider(stack, 'docker', {});
    const c = new Container(stack, 'Local', { name: 'gpu-0', image: 'ubuntu:24.04' });
    new TerraformOutput(stack, 'local_ip', { value: c.networkData.get(0).ipAddress });
  });

  withTerraform('passes a stack with a BastionVpc in ssh and ssm mode, after dropping the Docker part', () => {
    const result = validateAws(both());
    if (result.skipped) throw new Error('unexpected skip');
    expect(formatDiagnostics(result.errors)).toBe('');
    expect(result.valid).toBe(true);
    expect(result.dropped).toEqual(expect.arrayContaining([
      'terraform.backend local: validating needs no state',
      expect.stringMatching(/^resource docker_container\.Local/),
      expect.stringMatching(/^output local_ip: references dropped docker_container\.Local/),
    ]));
    // The whole network was validated, not dropped.
    expect(Object.keys(result.config.resource.aws_instance)).toHaveLength(2);
    expect(Object.keys(result.config.resource.aws_subnet)).toHaveLength(6);
  }, 180_000);

  withTerraform('reports an error for an unknown attribute', () => {
    const broken = both();
    const vpcs = broken.resource.aws_vpc;
    vpcs[Object.keys(vpcs)[0]].no_such_attribute = true;
    const result = validateAws(broken);
    if (result.skipped) throw new Error('unexpected skip');
    expect(result.valid).toBe(false);
    expect(formatDiagnostics(result.errors)).toMatch(/No argument or block type is named "no_such_attribute"/);
  }, 180_000);

  withTerraform('reports the provider schema\'s own checks: a missing required argument and a bad enum value', () => {
    const broken = both();
    const rules = broken.resource.aws_vpc_security_group_ingress_rule;
    delete rules[Object.keys(rules)[0]].ip_protocol;
    const instances = broken.resource.aws_instance;
    instances[Object.keys(instances)[0]].metadata_options.http_tokens = 'sometimes';
    const result = validateAws(broken);
    if (result.skipped) throw new Error('unexpected skip');
    expect(result.valid).toBe(false);
    const text = formatDiagnostics(result.errors);
    expect(text).toMatch(/"ip_protocol" is required/);
    expect(text).toMatch(/http_tokens/);
  }, 180_000);
});
