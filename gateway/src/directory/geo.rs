//! Where a directory service is on the map: the positions of its Locations (FHIR R4
//! `Location.position`, WGS84 degrees), the grid cells a position is indexed under, and the
//! distance a `near` search sorts by.
//!
//! A `near` search is narrowed by the store to the services indexed in the grid cells that cover
//! the circle's bounding box (equality on index rows, so it starts from few rows like any other
//! criterion); the exact distance then decides and orders, in the workflow.

use serde_json::Value;

/// Mean Earth radius in kilometres (IUGG), as the haversine formula takes it.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Kilometres in one degree of latitude, rounded down so a bounding box is never too small.
const KM_PER_DEGREE: f64 = 110.5;

/// Grid levels, coarsest first: cells per degree. Each position is indexed once per level, so a
/// search picks the finest level whose cells over its box stay few.
const LEVELS: [u32; 3] = [1, 10, 100];

/// Most cells a search names at a level finer than the coarsest.
const MAX_CELLS: usize = 36;

/// The index parameter a position's cells are written under.
pub const CELL_PARAM: &str = "near";

/// A point on the Earth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Degrees north, -90 to 90.
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    pub longitude: f64,
}

impl Position {
    /// A position from degrees, or why they are not coordinates.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, String> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(format!(
                "latitude {latitude} is not between -90 and 90 degrees"
            ));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(format!(
                "longitude {longitude} is not between -180 and 180 degrees"
            ));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// A Location's `position`, when it has one that is a point on the Earth.
    pub fn of_location(location: &Value) -> Option<Self> {
        let position = location.get("position")?;
        let degrees = |key: &str| position.get(key).and_then(Value::as_f64);
        Self::new(degrees("latitude")?, degrees("longitude")?).ok()
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(&self, other: &Position) -> f64 {
        let (phi1, phi2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.longitude - self.longitude).to_radians();
        let a =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// A `near` search: services with a location within `km` of `centre`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    /// The point searched from.
    pub centre: Position,
    /// How far, in kilometres.
    pub km: f64,
}

/// Distance searched when `near` gives none (FHIR leaves it to the server).
pub const DEFAULT_NEAR_KM: f64 = 5.0;
/// The longest distance searched: a social prescription is local, and a wider circle would
/// make a search read most of a national directory.
pub const MAX_NEAR_KM: f64 = 100.0;

impl Near {
    /// Reads `latitude|longitude|distance|unit` (FHIR R4 `Location.near`: WGS84 degrees;
    /// distance optional, unit a UCUM code `km` (the default), `m` or `[mi_i]`), or says why not.
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split('|').map(str::trim).collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(format!(
                "\"{value}\" is not latitude|longitude|distance|unit (e.g. 53.3781|-1.4620|5|km)"
            ));
        }
        let number = |what: &str, s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("{what} \"{s}\" is not a number"))
        };
        let centre = Position::new(
            number("latitude", parts[0])?,
            number("longitude", parts[1])?,
        )?;
        let km = distance_km(parts.get(2).copied(), parts.get(3).copied())?;
        Ok(Self { centre, km })
    }
}

/// Reads a distance and its unit (a UCUM code `km`, the default, `m` or `[mi_i]`) as kilometres,
/// [`DEFAULT_NEAR_KM`] when none is given; more than 0 and at most [`MAX_NEAR_KM`].
pub fn distance_km(distance: Option<&str>, unit: Option<&str>) -> Result<f64, String> {
    let distance = match distance.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            d.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("distance \"{d}\" is not a number"))?,
        ),
        None => None,
    };
    let per_unit = match unit.map(str::trim).filter(|u| !u.is_empty()) {
        None | Some("km") => 1.0,
        Some("m") => 0.001,
        Some("[mi_i]") => 1.609_344,
        Some(other) => {
            return Err(format!(
                "unit \"{other}\" is not one of km, m, [mi_i] (UCUM codes)"
            ));
        }
    };
    let km = distance.map_or(DEFAULT_NEAR_KM, |d| d * per_unit);
    if km <= 0.0 || km > MAX_NEAR_KM {
        return Err(format!(
            "the distance must be more than 0 and at most {MAX_NEAR_KM} km"
        ));
    }
    Ok(km)
}

/// The cell row `(latitude index, longitude index)` of a position at `per_degree` cells a degree.
fn cell_of(latitude: f64, longitude: f64, per_degree: u32) -> (i64, i64) {
    let n = f64::from(per_degree);
    let lat_cells = 180 * i64::from(per_degree);
    let lon_cells = 360 * i64::from(per_degree);
    // The poles and the antimeridian belong to the last cell, not one past it.
    let lat = (((latitude + 90.0) * n).floor() as i64).clamp(0, lat_cells - 1);
    let lon = (((longitude + 180.0) * n).floor() as i64).rem_euclid(lon_cells);
    (lat, lon)
}

fn cell_value(per_degree: u32, (lat, lon): (i64, i64)) -> String {
    format!("{per_degree}:{lat}:{lon}")
}

/// The cells a position is indexed under, one per level.
pub fn cells(position: &Position) -> Vec<String> {
    LEVELS
        .iter()
        .map(|&n| cell_value(n, cell_of(position.latitude, position.longitude, n)))
        .collect()
}

/// The cells at one level that cover the box around `centre` reaching `km` in every direction.
fn covering_at(centre: &Position, km: f64, per_degree: u32) -> Vec<String> {
    let dlat = km / KM_PER_DEGREE;
    let south = (centre.latitude - dlat).max(-90.0);
    let north = (centre.latitude + dlat).min(90.0);
    // A degree of longitude is shortest at the box's edge nearest a pole.
    let widest = south.abs().max(north.abs()).to_radians().cos();
    let dlon = if widest > 1e-6 {
        km / (KM_PER_DEGREE * widest)
    } else {
        180.0
    };
    let lon_cells = 360 * i64::from(per_degree);
    let (lat0, lon0) = cell_of(south, centre.longitude - dlon.min(180.0), per_degree);
    let (lat1, _) = cell_of(north, centre.longitude, per_degree);
    // How many longitude cells the box spans, at most all of them, counted from its west edge
    // (so a box across the antimeridian wraps).
    let span = ((2.0 * dlon.min(180.0) * f64::from(per_degree)).ceil() as i64 + 1).min(lon_cells);
    let mut out = Vec::new();
    for lat in lat0..=lat1 {
        for step in 0..span {
            out.push(cell_value(
                per_degree,
                (lat, (lon0 + step).rem_euclid(lon_cells)),
            ));
        }
    }
    out
}

/// The cells to search for services within `km` of `centre`: the finest level whose cells over
/// the bounding box are at most [`MAX_CELLS`], else the coarsest.
pub fn covering(centre: &Position, km: f64) -> Vec<String> {
    let mut chosen = covering_at(centre, km, LEVELS[0]);
    for &n in &LEVELS[1..] {
        let finer = covering_at(centre, km, n);
        if finer.len() > MAX_CELLS {
            break;
        }
        chosen = finer;
    }
    chosen
}

/// The contained Locations a service names in `location` (`#id`).
fn named_locations(service: &Value) -> impl Iterator<Item = &Value> {
    let contained: Vec<&Value> = service
        .get("contained")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    service
        .get("location")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r.get("reference")
                .and_then(Value::as_str)?
                .strip_prefix('#')
        })
        .filter_map(move |id| {
            contained
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
                .copied()
        })
}

/// The positions of the Locations a service names in `location` (contained, `#id`).
pub fn positions(service: &Value) -> Vec<Position> {
    named_locations(service)
        .filter_map(Position::of_location)
        .collect()
}

/// The Locations a service names in `location` that have a position, each with its postcode as
/// written (if any).
pub fn located(service: &Value) -> Vec<(Option<&str>, Position)> {
    named_locations(service)
        .filter_map(|loc| {
            let postcode = loc.pointer("/address/postalCode").and_then(Value::as_str);
            Position::of_location(loc).map(|p| (postcode, p))
        })
        .collect()
}

/// The middle of some positions (their mean: a postcode district spans a few km, where the
/// Earth's curve does not matter), or `None` for none.
pub fn centroid(points: &[Position]) -> Option<Position> {
    let n = points.len() as f64;
    if points.is_empty() {
        return None;
    }
    let latitude = points.iter().map(|p| p.latitude).sum::<f64>() / n;
    let longitude = points.iter().map(|p| p.longitude).sum::<f64>() / n;
    Position::new(latitude, longitude).ok()
}

/// How far the nearest of a service's locations is from `centre`, if any has a position.
pub fn nearest_km(service: &Value, centre: &Position) -> Option<f64> {
    positions(service)
        .iter()
        .map(|p| p.distance_km(centre))
        .min_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(latitude: f64, longitude: f64) -> Position {
        Position::new(latitude, longitude).expect("coordinates")
    }

    #[test]
    fn coordinates_outside_the_earth_are_refused() {
        assert!(Position::new(100.0, 101.0).is_err(), "the ORUK example's");
        assert!(Position::new(53.38, 181.0).is_err());
        assert!(Position::new(f64::NAN, 0.0).is_err());
        assert!(Position::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn near_reads_as_fhir_writes_it() {
        let near = Near::parse("53.3781|-1.4620|3|km").expect("near");
        assert_eq!((near.centre, near.km), (at(53.3781, -1.4620), 3.0));
        assert_eq!(
            Near::parse("53.3781|-1.4620").expect("near").km,
            DEFAULT_NEAR_KM
        );
        assert_eq!(Near::parse("53.3781|-1.4620|500|m").expect("near").km, 0.5);
        let miles = Near::parse("53.3781|-1.4620|2|[mi_i]").expect("near").km;
        assert!((miles - 3.218_688).abs() < 1e-9, "{miles}");
        for (bad, says) in [
            ("53.3781", "latitude|longitude"),
            ("north|-1.46|5|km", "latitude \"north\""),
            ("100|101|5|km", "latitude 100"),
            ("53.3|-1.4|5|furlong", "unit \"furlong\""),
            ("53.3|-1.4|0|km", "more than 0"),
            ("53.3|-1.4|101|km", "at most 100"),
            ("53.3|-1.4|5|km|x", "latitude|longitude"),
        ] {
            let why = Near::parse(bad).expect_err(bad);
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn distances_are_great_circle() {
        // Sheffield station to Leeds station: about 48 km as the crow flies.
        let sheffield = at(53.3781, -1.4620);
        let leeds = at(53.7949, -1.5475);
        let d = sheffield.distance_km(&leeds);
        assert!((46.0..50.0).contains(&d), "{d}");
        assert_eq!(sheffield.distance_km(&sheffield), 0.0);
        // A quarter of the way round the Equator.
        let quarter = at(0.0, 0.0).distance_km(&at(0.0, 90.0));
        assert!((quarter - 10_007.5).abs() < 1.0, "{quarter}");
    }

    #[test]
    fn every_point_within_the_distance_is_in_a_covering_cell() {
        for (centre, km) in [
            (at(53.3781, -1.4620), 2.0),
            (at(53.3781, -1.4620), 30.0),
            (at(51.5, -0.0001), 5.0),
            (at(-33.9, 179.99), 40.0),
            (at(89.9, 10.0), 20.0),
        ] {
            let cover = covering(&centre, km);
            assert!(!cover.is_empty());
            // Points on a ring just inside the distance, all the way round.
            for bearing in 0..72 {
                let theta = f64::from(bearing) * 5.0_f64.to_radians();
                let dlat = km * 0.999 * theta.cos() / 111.32;
                let dlon = km * 0.999 * theta.sin()
                    / (111.32 * (centre.latitude + dlat).to_radians().cos().max(1e-9));
                let lon = (centre.longitude + dlon + 540.0).rem_euclid(360.0) - 180.0;
                let Ok(p) = Position::new((centre.latitude + dlat).clamp(-90.0, 90.0), lon) else {
                    continue;
                };
                if p.distance_km(&centre) > km {
                    continue;
                }
                assert!(
                    cells(&p).iter().any(|c| cover.contains(c)),
                    "{p:?} ({:.2} km from {centre:?}) is outside the cells {cover:?}",
                    p.distance_km(&centre)
                );
            }
        }
    }

    #[test]
    fn a_short_distance_uses_fine_cells() {
        let cover = covering(&at(53.3781, -1.4620), 1.0);
        assert!(cover.iter().all(|c| c.starts_with("100:")), "{cover:?}");
        assert!(cover.len() <= MAX_CELLS);
        let wide = covering(&at(53.3781, -1.4620), 100.0);
        assert!(wide.iter().all(|c| c.starts_with("1:")), "{wide:?}");
    }

    #[test]
    fn a_centroid_is_the_middle_of_its_points() {
        let middle = centroid(&[at(53.0, -1.0), at(54.0, -2.0)]).expect("points");
        assert_eq!(middle, at(53.5, -1.5));
        assert_eq!(centroid(&[]), None);
        assert_eq!(distance_km(Some("800"), Some("m")), Ok(0.8));
        assert_eq!(distance_km(None, None), Ok(DEFAULT_NEAR_KM));
        assert!(distance_km(Some("far"), None).is_err());
    }

    #[test]
    fn positions_come_from_the_locations_named() {
        let service = json!({
            "contained": [
                {"resourceType": "Location", "id": "hall", "position": {"latitude": 53.38, "longitude": -1.47}},
                {"resourceType": "Location", "id": "bad", "position": {"latitude": 100, "longitude": 101}},
                {"resourceType": "Location", "id": "unused", "position": {"latitude": 51.5, "longitude": 0.0}}
            ],
            "location": [{"reference": "#hall"}, {"reference": "#bad"}]
        });
        assert_eq!(positions(&service), [at(53.38, -1.47)]);
        assert_eq!(located(&service), [(None, at(53.38, -1.47))]);
        let d = nearest_km(&service, &at(53.38, -1.47)).expect("a position");
        assert!(d < 0.001, "{d}");
    }
}
