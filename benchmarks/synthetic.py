"""Synthetic national-size data and the straightforward baselines, for the benchmark scripts in
``benchmarks/`` and the tests that use them as oracles. Everything is reproducible from a seed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo.perimeters import load_perimeters, normalize

# Mainland France in Lambert-93 (EPSG:2154), a rectangle that holds it
L93_BOX = (120_000.0, 6_140_000.0, 1_060_000.0, 7_080_000.0)


def national_layer(n: int = 1600, *, seed: int = 0) -> gpd.GeoDataFrame:
    """About ``n`` quartiers of realistic size and detail: the 64 real outlines of Pas-de-Calais,
    copied to jittered places spread over mainland France (Lambert-93), in the qpvgeo schema."""
    rng = np.random.default_rng(seed)
    base = load_perimeters().to_crs(2154)
    shapes = [shapely.affinity.translate(g, -g.centroid.x, -g.centroid.y) for g in base.geometry]
    x0, y0, x1, y1 = L93_BOX
    side = int(np.ceil(np.sqrt(n * (x1 - x0) / (y1 - y0))))
    step = (x1 - x0) / side
    cells = [(i, j) for i in range(side) for j in range(int((y1 - y0) / step))]
    picks = rng.choice(len(cells), size=n, replace=False)
    geoms, codes, names = [], [], []
    for k, c in enumerate(picks):
        i, j = cells[c]
        cx = x0 + (i + 0.5) * step + rng.uniform(-0.25, 0.25) * step
        cy = y0 + (j + 0.5) * step + rng.uniform(-0.25, 0.25) * step
        geoms.append(shapely.affinity.translate(shapes[k % len(shapes)], cx, cy))
        codes.append(f"QN9{k // 100:02d}{k % 100:02d}M")
        names.append(f"Quartier synthétique {k + 1}")
    raw = gpd.GeoDataFrame({"code_qp": codes, "lib_qp": names, "insee_dep": "75"}, geometry=geoms, crs=2154)
    return normalize(raw, label="synthetic national layer", vintage=2024)


def points(n: int, layer: gpd.GeoDataFrame, *, seed: int = 1, share_near: float = 0.5,
           spread_m: float = 800.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` WGS84 points: ``share_near`` of them scattered around quartiers (addresses cluster in
    towns), the rest uniform over the layer's extent."""
    rng = np.random.default_rng(seed)
    l93 = layer.to_crs(2154)
    cent = shapely.get_coordinates(l93.geometry.centroid.values)
    n_near = int(n * share_near)
    which = rng.integers(0, len(cent), n_near)
    xn = cent[which, 0] + rng.normal(0, spread_m, n_near)
    yn = cent[which, 1] + rng.normal(0, spread_m, n_near)
    x0, y0, x1, y1 = l93.total_bounds
    xu = rng.uniform(x0, x1, n - n_near)
    yu = rng.uniform(y0, y1, n - n_near)
    x, y = np.concatenate([xn, xu]), np.concatenate([yn, yu])
    order = rng.permutation(n)
    import pyproj

    lon, lat = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(x[order], y[order])
    return np.asarray(lon), np.asarray(lat)


def baseline_classify(layer: gpd.GeoDataFrame, lon, lat, *, band_m: float = 300.0) -> pd.DataFrame:
    """The straightforward way: buffer every quartier by the band in Lambert-93, ``sjoin`` the
    points with the quartiers and with the buffers, then ``sjoin_nearest`` for the distance.
    Distances are Lambert-93 metres (not corrected to the ground)."""
    l93 = layer.to_crs(2154)[["code_qp", "geometry"]]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(2154)
    buffers = l93.copy()
    buffers["geometry"] = l93.buffer(band_m)
    inside = gpd.sjoin(pts, l93, predicate="within", how="left")
    inside = inside[~inside.index.duplicated()]
    band = gpd.sjoin(pts, buffers, predicate="within", how="left")
    band = band[~band.index.duplicated()]
    near = gpd.sjoin_nearest(pts, l93, how="left", distance_col="distance_m")
    near = near[~near.index.duplicated()]
    status = np.where(inside["code_qp"].notna(), "in_qpv", np.where(band["code_qp"].notna(), "in_band", "outside"))
    return pd.DataFrame({"status": status, "code_qp": near["code_qp"].to_numpy(),
                         "distance_m": near["distance_m"].to_numpy()})


def compare(fast_status, base: pd.DataFrame, *, band_m: float = 300.0, tolerance_m: float = 2.0) -> dict:
    """Where the fast path and the baseline disagree, and whether every disagreement lies within
    ``tolerance_m`` of the band limit (Lambert-93 scale error up to 0.2 % plus the baseline's
    polygonal buffer, which cuts corners by up to 1.5 m at 8 segments per quarter circle)."""
    fast = np.asarray(fast_status, dtype=object).copy()
    # the baseline knows no coverage: "no data here" compares with its "outside"
    fast[np.isin(fast, ["not_covered", "outside_territory"])] = "outside"
    diff = fast != base["status"].to_numpy()
    near_limit = np.abs(base["distance_m"].to_numpy() - band_m) < tolerance_m
    return {"points": int(len(fast)), "disagreements": int(diff.sum()),
            "disagreements_near_limit": int((diff & near_limit).sum()),
            "disagreements_elsewhere": int((diff & ~near_limit).sum()),
            "max_gap_to_limit_m": float(np.abs(base["distance_m"].to_numpy()[diff] - band_m).max())
            if diff.any() else 0.0}


def national_grid(n: int = 2_300_000, *, seed: int = 2, communes_per_epci: int = 30) -> tuple[pd.DataFrame,
                                                                                               pd.DataFrame]:
    """A national-size Filosofi-like grid in INSEE form (``idcar_200m``, ``i_est_200``, ``ind``,
    ``men``, ``men_pauv``, ``lcog_geo``) and its commune → EPCI table (DGCL epcicom columns).

    Carreaux cluster in towns (as the real grid does); each town is a commune."""
    rng = np.random.default_rng(seed)
    towns = n // 65
    cx = rng.uniform(3_250_000, 4_250_000, towns)
    cy = rng.uniform(2_150_000, 3_100_000, towns)
    size = rng.pareto(1.3, towns) + 1
    counts = np.maximum(1, (size / size.sum() * n * 1.35).astype(int))
    town = np.repeat(np.arange(towns), counts)
    spread = np.repeat(np.sqrt(counts) * 120.0, counts)
    gx = np.floor((np.repeat(cx, counts) + rng.normal(0, 1, len(town)) * spread) / 200).astype(np.int64)
    gy = np.floor((np.repeat(cy, counts) + rng.normal(0, 1, len(town)) * spread) / 200).astype(np.int64)
    key = gx * 100_000 + gy
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)[:n]
    gx, gy, town = gx[first], gy[first], town[first]
    m = len(gx)
    men = np.round(rng.gamma(1.2, 25, m), 1)
    imputed = men < 11
    poor_rate = np.clip(rng.beta(2, 9, m) * np.where(rng.random(m) < 0.03, 3.0, 1.0), 0, 1)
    men_pauv = np.round(men * poor_rate, 1)
    ind = np.round(men * rng.uniform(1.6, 2.8, m), 1)
    commune = np.array([f"{10000 + t % 89999:05d}" for t in range(towns)])
    grid = pd.DataFrame({
        "idcar_200m": [f"CRS3035RES200mN{y * 200}E{x * 200}" for x, y in zip(gx, gy)],
        "i_est_200": imputed.astype(int), "ind": ind, "men": men, "men_pauv": men_pauv,
        "lcog_geo": commune[town],
    })
    codes = np.unique(commune)
    membership = pd.DataFrame({"siren": [f"2{i // communes_per_epci:08d}" for i in range(len(codes))],
                               "raison_sociale": [f"EPCI {i // communes_per_epci}" for i in range(len(codes))],
                               "insee": codes, "nom_membre": codes, "pmun_2025": np.nan})
    return grid, membership


def group_by_geometry(squares: gpd.GeoDataFrame, *, contact: str = "edge") -> np.ndarray:
    """Baseline grouping by pairwise geometry tests (``sjoin`` of the squares with themselves)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    left, right = squares.sindex.query(squares.geometry.values, predicate="touches")
    if contact == "edge":
        inter = shapely.intersection(squares.geometry.values[left], squares.geometry.values[right])
        keep = shapely.length(inter) > 0
        left, right = left[keep], right[keep]
    n = len(squares)
    _, lab = connected_components(coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n)), directed=False)
    return lab
