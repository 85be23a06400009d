/**
 * The shape of summary.json, as features/summary.py writes it.
 */

export interface ColumnSummary {
  count: number;
  missing: number;
  /** Absent when the species has no value for the column. */
  mean?: number;
  /** Sample standard deviation (n - 1). */
  std?: number;
  min?: number;
  max?: number;
}

export interface SpeciesSummary {
  count: number;
  measurements: Record<string, ColumnSummary>;
  islands: Record<string, number>;
  sex: Record<string, number>;
}

export interface DataSummary {
  count: number;
  /** The numeric columns summarised, sorted. */
  measurements: string[];
  species: Record<string, SpeciesSummary>;
}
