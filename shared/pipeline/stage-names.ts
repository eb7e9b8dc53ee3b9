/** The names of the pipeline's stages, in order (their definitions: stages.ts). Kept apart so the queue topology can name them without the codecs. */
export const STAGE_NAMES = ['fetch', 'extract', 'document', 'render', 'deliver'] as const;

export type StageName = (typeof STAGE_NAMES)[number];
