/**
 * A step's rich outputs: what its cells showed (`display()`, the value of a cell's last
 * expression, matplotlib figures), kept by the step runtime as MIME bundles, as a Jupyter kernel
 * sends them, in `DATA_DIR/STEP_ID/_outputs.json` (src/runtime/chard_runtime/outputs.py). Each is
 * an nbformat output with the notebook cell that showed it. Pure data and guards.
 */
import { isRecord } from './notebook.js';

/** The file of a step's rich outputs in its data folder. */
export const RICH_OUTPUTS_FILE = '_outputs.json';

/**
 * A cluster step's log line that carries what it showed (the runtime's `--outputs-to-log`):
 * this prefix, then the outputs document as one line of JSON.
 */
export const RICH_OUTPUTS_LOG_PREFIX = 'CHARD_OUTPUTS ';

/** A JSON value, as a MIME bundle holds them. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One output, as nbformat stores it, with the 0-based notebook cell that showed it. */
export interface IRichOutput {
  output_type: 'display_data' | 'execute_result';
  cell: number | null;
  /** MIME type -> data: text, base64 for binary types, a JSON value for JSON types. */
  data: Record<string, JsonValue>;
  metadata: Record<string, JsonValue>;
  execution_count?: number | null;
}

/** The outputs a step did not keep: it showed more than the runtime's limits allow. */
export interface IRichOutputsTruncated {
  /** How many outputs were left out, and their size in bytes (as JSON). */
  outputs: number;
  bytes: number;
  /** The limits: bytes of outputs and number of outputs a step keeps. */
  maxBytes: number;
  maxOutputs: number;
}

/** `GET /chard/api/runs/{id}/steps/{step}/outputs`: what the step's cells showed. */
export interface IStepOutputs {
  step: string;
  outputs: IRichOutput[];
  truncated: IRichOutputsTruncated | null;
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function isRichOutput(value: unknown): value is IRichOutput {
  return (
    isRecord(value) &&
    (value.output_type === 'display_data' || value.output_type === 'execute_result') &&
    (value.cell === null || isCount(value.cell)) &&
    isRecord(value.data) &&
    isRecord(value.metadata)
  );
}

export function isRichOutputsTruncated(value: unknown): value is IRichOutputsTruncated {
  return (
    isRecord(value) &&
    isCount(value.outputs) &&
    isCount(value.bytes) &&
    isCount(value.maxBytes) &&
    isCount(value.maxOutputs)
  );
}

export function isStepOutputs(value: unknown): value is IStepOutputs {
  return (
    isRecord(value) &&
    typeof value.step === 'string' &&
    Array.isArray(value.outputs) &&
    value.outputs.every(isRichOutput) &&
    (value.truncated === null || isRichOutputsTruncated(value.truncated))
  );
}

/**
 * The outputs in the text of a `_outputs.json` file; null when it is not one. Outputs that are
 * not nbformat outputs are left out.
 */
export function parseRichOutputs(text: string): Pick<IStepOutputs, 'outputs' | 'truncated'> | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(data) || data.version !== 1 || !Array.isArray(data.outputs)) {
    return null;
  }
  return {
    outputs: data.outputs.filter(isRichOutput),
    truncated: isRichOutputsTruncated(data.truncated) ? data.truncated : null
  };
}
