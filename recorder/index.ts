export { TraceWriter, DEFAULT_CHUNK_EVENTS, type TraceWriterOptions, type TraceWriteStats } from './writer.js';
export { sha256File, describeInput, describeBytes } from './inputs.js';
export {
  TraceError, FORMAT_VERSION, canonicalJson, type TraceErrorCode, type TraceHeader, type TraceInput, type InputRole,
  type JsonObject, type JsonValue, type Codec,
} from './format.js';
export { EVENT_FIELDS, KIND_TAG, KIND_BY_TAG, EVENT_KINDS, type FieldType } from './codec.js';
