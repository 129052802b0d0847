import { SECRET_NAME, isExpression } from '../../inspect';
import { defineRule } from '../../rule';

function literal(value: unknown): boolean {
  return typeof value === 'string' && value !== '' && !isExpression(value);
}

/**
 * A secret written into the configuration lives in git, in the plan and in every CI log. Values come from a
 * generator (aws_secretsmanager_random_password), a sensitive variable, or the node that creates them.
 */
export const SecretsNotLiteral = defineRule({
  id: 'AWS-SECRET-LITERAL',
  pack: 'aws',
  explanation: 'Secret values must come from the secret store or a generator, never a literal in the configuration.',
  fix: 'Use a generated value (data.aws_secretsmanager_random_password) or a sensitive variable; keep secrets out of plain String parameters.',
  appliesTo: ['aws_secretsmanager_secret_version', 'aws_ssm_parameter', 'aws_db_instance', 'aws_rds_cluster'],
  check: (block) => {
    const a = block.attributes;
    switch (block.type) {
      case 'aws_secretsmanager_secret_version':
        return literal(a.secret_string) || literal(a.secret_binary) ? ['the secret value is a literal'] : [];
      case 'aws_ssm_parameter':
        if (a.type === 'SecureString') return literal(a.value) ? ['the SecureString value is a literal'] : [];
        return SECRET_NAME.test(String(a.name ?? '')) && literal(a.value)
          ? [`parameter ${String(a.name)} is named like a secret but is a plain ${String(a.type)}`]
          : [];
      default:
        return literal(a.password) || literal(a.master_password) ? ['the database password is a literal'] : [];
    }
  },
});
