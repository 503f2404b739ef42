/** Producer version written into trace headers (package.json's version). */
export const PRODUCER_VERSION = '0.1.0';
