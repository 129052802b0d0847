/**
 * The price table behind the plan summary's cost estimate. Approximate on-demand list prices in USD, entered by
 * hand (never fetched) for the regions named below; they drift, they differ by region, and they ignore
 * discounts, reservations, Spot, taxes, data transfer and requests. Override any entry with your own rates
 * (`SlurmController` `planSummary.prices`).
 */
export interface PriceTable {
  /** When the prices were looked up. */
  readonly asOf: string;
  readonly currency: 'USD';
  /** Which regions the list prices are for. */
  readonly regions: string;
  /** Per hour, by EC2 instance type or Compute Engine machine type. */
  readonly hourly: Readonly<Record<string, number>>;
  /** Per GiB-month, by storage kind (see the keys below). */
  readonly perGiBMonth: Readonly<Record<string, number>>;
}

/** Hours in a month as AWS and Google bill monthly storage: 730. */
export const HOURS_PER_MONTH = 730;

export const DEFAULT_PRICES: PriceTable = {
  asOf: '2025-06',
  currency: 'USD',
  regions: 'AWS us-east-1, Google Cloud us-central1',
  hourly: {
    // AWS EC2 (Linux, on-demand).
    't3.micro': 0.0104,
    't3.small': 0.0208,
    't3.medium': 0.0416,
    't3.large': 0.0832,
    't3.xlarge': 0.1664,
    'm6i.large': 0.096,
    'm6i.xlarge': 0.192,
    'm6i.2xlarge': 0.384,
    'm6i.4xlarge': 0.768,
    'c6i.large': 0.085,
    'c6i.xlarge': 0.17,
    'c6i.2xlarge': 0.34,
    'c6i.4xlarge': 0.68,
    'g4dn.xlarge': 0.526,
    'g4dn.12xlarge': 3.912,
    'g5.xlarge': 1.006,
    'g5.2xlarge': 1.212,
    'g5.12xlarge': 5.672,
    'g5.48xlarge': 16.288,
    'g6.xlarge': 0.8048,
    'g6.12xlarge': 4.6016,
    'p4d.24xlarge': 21.96,
    'p5.48xlarge': 55.04,
    // NAT gateway, per gateway-hour (data processing not included).
    'aws:nat-gateway': 0.045,
    // Google Compute Engine (on-demand).
    'e2-small': 0.016751,
    'e2-standard-2': 0.067006,
    'e2-standard-4': 0.134012,
    'n2-standard-2': 0.097118,
    'n2-standard-4': 0.194236,
    'n2-standard-8': 0.388472,
    'n2-standard-16': 0.776944,
    'a2-highgpu-1g': 3.673385,
    'g2-standard-8': 0.85,
    'a3-highgpu-8g': 88.25,
    'a3-megagpu-8g': 92.0,
    // Cloud NAT, per gateway-hour for a small cluster.
    'gcp:cloud-nat': 0.044,
  },
  perGiBMonth: {
    'aws:ebs-gp3': 0.08,
    'aws:fsx-lustre-scratch2': 0.14,
    'aws:fsx-lustre-persistent2-125': 0.145,
    'aws:fsx-lustre-persistent2-250': 0.21,
    'aws:fsx-lustre-persistent2-500': 0.34,
    'aws:fsx-lustre-persistent2-1000': 0.6,
    'gcp:pd-balanced': 0.1,
    'gcp:pd-ssd': 0.17,
    'gcp:managed-lustre-125': 0.145,
    'gcp:managed-lustre-250': 0.21,
    'gcp:managed-lustre-500': 0.34,
    'gcp:managed-lustre-1000': 0.6,
  },
};

/** The default table with a user's entries laid over it. */
export function withPriceOverrides(overrides: { hourly?: Record<string, number>; perGiBMonth?: Record<string, number> } = {}): PriceTable {
  return {
    ...DEFAULT_PRICES,
    hourly: { ...DEFAULT_PRICES.hourly, ...overrides.hourly },
    perGiBMonth: { ...DEFAULT_PRICES.perGiBMonth, ...overrides.perGiBMonth },
  };
}
