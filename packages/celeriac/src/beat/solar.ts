/**
 * @module beat/solar
 * Times of solar events (sunrise, sunset, dawns, dusks, solar noon) from the NOAA solar
 * calculator's formulas (Meeus' low-precision sun), refined by evaluating the sun's
 * position at the event itself; good to well under a minute between the polar circles.
 * Pure: no I/O, no clock.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** Celery's solar event names. */
export const SOLAR_EVENTS = [
  'dawn_astronomical',
  'dawn_nautical',
  'dawn_civil',
  'sunrise',
  'solar_noon',
  'sunset',
  'dusk_civil',
  'dusk_nautical',
  'dusk_astronomical',
] as const;

/** One of {@link SOLAR_EVENTS}. */
export type SolarEvent = (typeof SOLAR_EVENTS)[number];

/**
 * Sun altitude (degrees, of its centre) at each event and whether the sun rises or sets.
 * Sunrise/sunset: the upper limb on the horizon without refraction, as Celery configures
 * PyEphem (pressure 0, horizon -0:34 on the limb: about -0.833 degrees for the centre).
 */
const EVENTS: Record<SolarEvent, { altitude: number; side: -1 | 0 | 1 }> = {
  dawn_astronomical: { altitude: -18, side: -1 },
  dawn_nautical: { altitude: -12, side: -1 },
  dawn_civil: { altitude: -6, side: -1 },
  sunrise: { altitude: -0.8333, side: -1 },
  solar_noon: { altitude: 0, side: 0 },
  sunset: { altitude: -0.8333, side: 1 },
  dusk_civil: { altitude: -6, side: 1 },
  dusk_nautical: { altitude: -12, side: 1 },
  dusk_astronomical: { altitude: -18, side: 1 },
};

const RAD = Math.PI / 180;
const DAY_MS = 86_400_000;

/** Throws a CONFIG error unless the event and coordinates are usable. */
export function checkSolar(event: string, latitude: number, longitude: number): void {
  if (!(SOLAR_EVENTS as readonly string[]).includes(event)) {
    throw new CeleriacError(ErrorCodes.CONFIG, `Unknown solar event ${JSON.stringify(event)}; known: ${SOLAR_EVENTS.join(', ')}`);
  }
  if (!(Number.isFinite(latitude) && latitude >= -90 && latitude <= 90)) throw new CeleriacError(ErrorCodes.CONFIG, `Solar latitude must be from -90 to 90, got ${latitude}`);
  if (!(Number.isFinite(longitude) && longitude >= -180 && longitude <= 180)) throw new CeleriacError(ErrorCodes.CONFIG, `Solar longitude must be from -180 to 180, got ${longitude}`);
}

/** Declination (radians) and equation of time (minutes) at an instant (NOAA / Meeus ch. 25). */
function sunAt(instant: number): { declination: number; eqTimeMin: number } {
  const jd = instant / DAY_MS + 2440587.5;
  const T = (jd - 2451545) / 36525;
  const L0 = (((280.46646 + T * (36000.76983 + T * 0.0003032)) % 360) + 360) % 360;
  const M = 357.52911 + T * (35999.05029 - 0.0001537 * T);
  const e = 0.016708634 - T * (0.000042037 + 0.0000001267 * T);
  const C =
    Math.sin(M * RAD) * (1.914602 - T * (0.004817 + 0.000014 * T)) +
    Math.sin(2 * M * RAD) * (0.019993 - 0.000101 * T) +
    Math.sin(3 * M * RAD) * 0.000289;
  const omega = 125.04 - 1934.136 * T;
  const lambda = L0 + C - 0.00569 - 0.00478 * Math.sin(omega * RAD);
  const eps0 = 23 + (26 + (21.448 - T * (46.815 + T * (0.00059 - T * 0.001813))) / 60) / 60;
  const eps = eps0 + 0.00256 * Math.cos(omega * RAD);
  const declination = Math.asin(Math.sin(eps * RAD) * Math.sin(lambda * RAD));
  const y = Math.tan((eps / 2) * RAD) ** 2;
  const eqTime =
    y * Math.sin(2 * L0 * RAD) -
    2 * e * Math.sin(M * RAD) +
    4 * e * y * Math.sin(M * RAD) * Math.cos(2 * L0 * RAD) -
    0.5 * y * y * Math.sin(4 * L0 * RAD) -
    1.25 * e * e * Math.sin(2 * M * RAD);
  return { declination, eqTimeMin: (4 * eqTime) / RAD };
}

/** One estimate of the event near `guess`; undefined when the sun never reaches the altitude. */
function estimate(event: SolarEvent, latitude: number, longitude: number, dayStartUtc: number, guess: number): number | undefined {
  const { altitude, side } = EVENTS[event];
  const { declination, eqTimeMin } = sunAt(guess);
  const noonMin = 720 - 4 * longitude - eqTimeMin;
  if (side === 0) return dayStartUtc + noonMin * 60_000;
  const lat = latitude * RAD;
  const cosH = (Math.sin(altitude * RAD) - Math.sin(lat) * Math.sin(declination)) / (Math.cos(lat) * Math.cos(declination));
  if (!(cosH >= -1 && cosH <= 1)) return undefined;
  const hourAngleMin = (4 * Math.acos(cosH)) / RAD;
  return dayStartUtc + (noonMin + side * hourAngleMin) * 60_000;
}

/**
 * The event on the solar day around local noon of the UTC date starting at `dayStartUtc`
 * (epoch ms of 00:00 UTC), or undefined when it does not happen that day (polar day or
 * night). Three passes: each evaluates the sun at the previous estimate.
 */
export function solarEventOn(event: SolarEvent, latitude: number, longitude: number, dayStartUtc: number): number | undefined {
  let t: number | undefined = dayStartUtc + (720 - 4 * longitude) * 60_000;
  for (let i = 0; i < 3 && t !== undefined; i++) t = estimate(event, latitude, longitude, dayStartUtc, t);
  return t;
}

/** The first time of `event` strictly after `instant`, or Infinity if none within ~13 months. */
export function nextSolarEvent(event: SolarEvent, latitude: number, longitude: number, instant: number): number {
  const firstDay = Math.floor(instant / DAY_MS) * DAY_MS - DAY_MS;
  for (let d = 0; d < 400; d++) {
    const t = solarEventOn(event, latitude, longitude, firstDay + d * DAY_MS);
    // Compare the rounded time: callers feed it back in and expect a strictly later answer.
    if (t !== undefined && Math.round(t) > instant) return Math.round(t);
  }
  return Number.POSITIVE_INFINITY;
}
