export { TraceReader, EventCursor, type ChunkEntry, type TruncationInfo, type TraceFooterInfo } from './reader.js';
export { VerifySink, DivergenceError, formatDivergence, type DivergenceKind, type VerifyOptions, type VerifyResult } from './verify.js';
export { inspectTrace, formatInspection, type InspectOptions, type TraceInspection, type ExitReasonCount } from './inspect.js';
export { diffTraces, formatDiff, type TraceDiff, type FirstDifference, type TraceSideSummary } from './diff.js';
export {
  formatEvent, formatField, formatComparison, exitReasonName, EXIT_REASON_NAMES, INTERRUPTION_TYPE_NAMES,
  sameEvent, differingFields, formatAddress,
} from './format-event.js';
export { TraceError, type TraceErrorCode } from '../recorder/format.js';
