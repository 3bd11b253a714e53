/**
 * @module create-app
 * `createApp`, the one way to make an app. It is an edge (docs/internals.md, "Layers"): it gives the app the
 * URL -> adapter table and the canvas layer (Celery's built-in canvas tasks and
 * `ctx.replace`), which core may not import.
 */
import { registerCanvasBuiltins } from './canvas/builtins.js';
import { replaceTask } from './canvas/replace.js';
import { App, type AppOptions } from './core/app.js';
import type { Settings } from './core/settings.js';
import { objectOrNone } from './core/option-names.js';
import { ErrorCodes } from './errors.js';
import { defaultTransports } from './transports.js';

/**
 * Creates an app. Broker and backend default to the embedded memory adapters
 * (`memory://`), shared by every app of the process; `options` may give adapters, a clock,
 * a logger or the environment to read instead.
 */
export function createApp(settings: Settings = {}, options: AppOptions = {}): App {
  // null is no settings; a number was taken as none, and null threw a TypeError.
  const given = objectOrNone(settings, 'createApp(): settings', ErrorCodes.CONFIG);
  const app: App = new App(given, { transports: defaultTransports, ...options }, (request, replacement) => replaceTask(app, request, replacement));
  registerCanvasBuiltins(app);
  return app;
}
