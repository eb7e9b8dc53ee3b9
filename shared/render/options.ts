/**
 * A session's rendering options with the config's defaults applied (read live, so a session
 * that names nothing follows render.defaultMode as it changes). The fetcher (render always),
 * the extractor (render auto) and the renderer all ask here.
 */
import type { Config } from '../config/index.js';
import type { RenderMode, RenderResourceType, SessionSpec } from '../tasks/types.js';

export const DEFAULT_BLOCKED_RESOURCES: readonly RenderResourceType[] = ['image', 'media', 'font'];

export interface RenderOptions {
  mode: RenderMode;
  /** `load`, `networkidle` or a CSS selector. */
  waitFor: string;
  timeoutMs: number;
  blockResources: readonly RenderResourceType[];
  screenshot: boolean;
}

/** How the session renders its pages. */
export function renderMode(spec: Pick<SessionSpec, 'render'>, cfg: Config): RenderMode {
  return spec.render ?? cfg.render.defaultMode;
}

export function renderOptions(spec: SessionSpec, cfg: Config): RenderOptions {
  return {
    mode: renderMode(spec, cfg),
    waitFor: spec.waitFor ?? 'load',
    timeoutMs: spec.renderTimeoutMs ?? cfg.render.timeoutMs,
    blockResources: spec.blockResources ?? DEFAULT_BLOCKED_RESOURCES,
    screenshot: spec.screenshot ?? false,
  };
}
