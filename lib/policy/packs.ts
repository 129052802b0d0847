/** The rules, grouped into packs. Adding a rule: one file under rules/<pack>/, one line here. */
import { PolicyPackName, PolicyRule } from './rule';
import { ControllerTerminationProtected } from './rules/aws/ControllerTerminationProtected';
import { DefaultSecurityGroupClosed } from './rules/aws/DefaultSecurityGroupClosed';
import { EbsVolumeEncrypted } from './rules/aws/EbsVolumeEncrypted';
import { FileSystemsEncrypted } from './rules/aws/FileSystemsEncrypted';
import { IamNoBroadManagedPolicies } from './rules/aws/IamNoBroadManagedPolicies';
import { IamNoWildcardActions } from './rules/aws/IamNoWildcardActions';
import { IamNoWildcardResources } from './rules/aws/IamNoWildcardResources';
import { IamTrustNoWildcardPrincipal } from './rules/aws/IamTrustNoWildcardPrincipal';
import { ImdsHopLimit } from './rules/aws/ImdsHopLimit';
import { ImdsV2Required } from './rules/aws/ImdsV2Required';
import { InstanceNoPublicIp } from './rules/aws/InstanceNoPublicIp';
import { InstanceVolumesEncrypted } from './rules/aws/InstanceVolumesEncrypted';
import { S3BucketEncrypted } from './rules/aws/S3BucketEncrypted';
import { S3BucketPublicAccessBlocked } from './rules/aws/S3BucketPublicAccessBlocked';
import { S3BucketTlsOnly } from './rules/aws/S3BucketTlsOnly';
import { SecretsNotLiteral } from './rules/aws/SecretsNotLiteral';
import { SecurityGroupDescribed } from './rules/aws/SecurityGroupDescribed';
import { SecurityGroupNoWorldAdminPorts } from './rules/aws/SecurityGroupNoWorldAdminPorts';
import { SecurityGroupNoWorldAllPorts } from './rules/aws/SecurityGroupNoWorldAllPorts';
import { SecurityGroupNoWorldIngress } from './rules/aws/SecurityGroupNoWorldIngress';
import { SecurityGroupRulesDescribed } from './rules/aws/SecurityGroupRulesDescribed';
import { SlurmPortsClusterOnly } from './rules/aws/SlurmPortsClusterOnly';
import { SubnetNoAutoPublicIp } from './rules/aws/SubnetNoAutoPublicIp';
import { VpcFlowLogs } from './rules/aws/VpcFlowLogs';
import { ControllerDeletionProtected } from './rules/gcp/ControllerDeletionProtected';
import { BlockProjectSshKeys } from './rules/gcp/BlockProjectSshKeys';
import { CustomModeNetwork } from './rules/gcp/CustomModeNetwork';
import { FirewallDescribed } from './rules/gcp/FirewallDescribed';
import { FirewallNoWorldAdminPorts } from './rules/gcp/FirewallNoWorldAdminPorts';
import { FirewallNoWorldAllPorts } from './rules/gcp/FirewallNoWorldAllPorts';
import { FirewallSlurmPortsClusterOnly } from './rules/gcp/FirewallSlurmPortsClusterOnly';
import { NoBasicRoles } from './rules/gcp/NoBasicRoles';
import { NoDefaultServiceAccount } from './rules/gcp/NoDefaultServiceAccount';
import { NoIpForwarding } from './rules/gcp/NoIpForwarding';
import { NoPublicIp } from './rules/gcp/NoPublicIp';
import { OsLoginEnabled } from './rules/gcp/OsLoginEnabled';
import { SecretManagerNotLiteral } from './rules/gcp/SecretManagerNotLiteral';
import { SerialPortDisabled } from './rules/gcp/SerialPortDisabled';
import { ShieldedVm } from './rules/gcp/ShieldedVm';
import { SubnetFlowLogs } from './rules/gcp/SubnetFlowLogs';
import { ContainerConfinement } from './rules/docker/ContainerConfinement';
import { NoHostNamespaces } from './rules/docker/NoHostNamespaces';
import { NoPrivilegedContainers } from './rules/docker/NoPrivilegedContainers';
import { NoPublishedPorts } from './rules/docker/NoPublishedPorts';
import { NoSecretsInEnvironment } from './rules/docker/NoSecretsInEnvironment';
import { NoSecretsInBootData } from './rules/common/NoSecretsInBootData';

export const POLICY_PACKS: Readonly<Record<PolicyPackName, readonly PolicyRule[]>> = {
  aws: [
    ControllerTerminationProtected,
    DefaultSecurityGroupClosed,
    EbsVolumeEncrypted,
    FileSystemsEncrypted,
    IamNoBroadManagedPolicies,
    IamNoWildcardActions,
    IamNoWildcardResources,
    IamTrustNoWildcardPrincipal,
    ImdsHopLimit,
    ImdsV2Required,
    InstanceNoPublicIp,
    InstanceVolumesEncrypted,
    S3BucketEncrypted,
    S3BucketPublicAccessBlocked,
    S3BucketTlsOnly,
    SecretsNotLiteral,
    SecurityGroupDescribed,
    SecurityGroupNoWorldAdminPorts,
    SecurityGroupNoWorldAllPorts,
    SecurityGroupNoWorldIngress,
    SecurityGroupRulesDescribed,
    SlurmPortsClusterOnly,
    SubnetNoAutoPublicIp,
    VpcFlowLogs,
  ],
  gcp: [
    BlockProjectSshKeys,
    ControllerDeletionProtected,
    CustomModeNetwork,
    FirewallDescribed,
    FirewallNoWorldAdminPorts,
    FirewallNoWorldAllPorts,
    FirewallSlurmPortsClusterOnly,
    NoBasicRoles,
    NoDefaultServiceAccount,
    NoIpForwarding,
    NoPublicIp,
    OsLoginEnabled,
    SecretManagerNotLiteral,
    SerialPortDisabled,
    ShieldedVm,
    SubnetFlowLogs,
  ],
  docker: [
    ContainerConfinement,
    NoHostNamespaces,
    NoPrivilegedContainers,
    NoPublishedPorts,
    NoSecretsInEnvironment,
  ],
  common: [
    NoSecretsInBootData,
  ],
};

/** Every rule of every pack. */
export const ALL_POLICY_RULES: readonly PolicyRule[] = Object.values(POLICY_PACKS).flat();

/** The rule with this ID, if any. */
export function policyRule(id: string): PolicyRule | undefined {
  return ALL_POLICY_RULES.find((r) => r.id === id);
}
