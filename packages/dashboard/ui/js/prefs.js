// The user's display choices, kept in localStorage: the time zone times are shown in.
import { config } from './api.js';
import { h } from './dom.js';
import { formatTime, resolveZone, toMs } from './format.js';

const KEY = 'celeriac.dashboard.zone';

/** 'browser' | 'UTC' | 'app' */
export function zoneChoice() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'UTC' || v === 'app' ? v : 'browser';
  } catch {
    return 'browser';
  }
}

export function setZoneChoice(v) {
  try {
    localStorage.setItem(KEY, v);
  } catch {
    // private mode: the choice lasts this page only
  }
}

/** The IANA zone for the current choice (undefined: the browser's). */
export function zone() {
  return resolveZone(zoneChoice(), config.timezone);
}

/** A <time> element in the chosen zone, with the UTC time as its tooltip. */
export function timeEl(t) {
  const ms = toMs(t);
  if (ms === null) return '';
  return h('time', { datetime: new Date(ms).toISOString(), title: formatTime(ms, 'UTC') }, formatTime(ms, zone()));
}
