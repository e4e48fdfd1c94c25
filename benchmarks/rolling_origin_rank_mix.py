"""Does a peer carry ranking signal the shipped score lacks? A diagnostic on the dev protocols.

For each development protocol of `rolling_origin.py` (peers from its disk cache, which must
exist: run `rolling_origin_candidates.py` on the dataset first), the AUC of the shipped score,
of each peer, and of the average of our rank with each peer's rank (and with Pareto/NBD's and
the RFM boosting's together), each minus the best peer's AUC. If no average beats ours alone,
adding that peer's signal to the classifier is unlikely to help (benchmarks/README.md, session
9). Nothing is chosen here; only dev protocols are read.

    PYTHONPATH=$PWD python benchmarks/rolling_origin_rank_mix.py cdnow_master
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rolling_origin as ro
from connector.testing.testdata import load_transactions


def main(name: str) -> None:
    rel, reader, _ = ro.DATASETS[name]
    tx = reader(ro.default_data() / rel)
    digest = hashlib.sha256(pd.util.hash_pandas_object(tx, index=False).values).hexdigest()[:12]
    tag = f"{name}-{digest}-v{ro.PEER_VERSION}"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    load_transactions(con, tx)
    margins: list[dict[str, float]] = []
    for cutoff in ro.DEV_CUTOFFS[name]:
        feats = ro.buyers_at(con, cutoff)
        for h in ro.DEV_HORIZONS:
            peers = json.loads((ro.CACHE / f"{tag}-{cutoff:%Y%m%d}-{h}.json").read_text())
            end = cutoff + timedelta(days=h)
            y = feats["profile_id"].isin(ro.bought(con, cutoff, end)).to_numpy(int)
            mine = ro.ours(con, cutoff, h).reindex(feats["profile_id"]).to_numpy(float)
            ranks = {k: rankdata(v["rank"]) / len(y) for k, v in peers.items() if "rank" in v}
            aucs = {"ours": ro.auc(y, mine), **{k: ro.auc(y, r) for k, r in ranks.items()}}
            best = max(v for k, v in aucs.items() if k != "ours")
            ours_rank = rankdata(mine) / len(y)
            for k, r in ranks.items():
                aucs[f"ours+{k}"] = ro.auc(y, (ours_rank + r) / 2)
            both = [ranks[k] for k in ("Pareto/NBD", "HGB (RFM)") if k in ranks]
            aucs["ours+Pareto/NBD+HGB"] = ro.auc(y, (ours_rank + sum(both)) / (1 + len(both)))
            margins.append({k: v - best for k, v in aucs.items()})
            print(cutoff.date(), h, " ".join(f"{k} {v:+.4f}" for k, v in margins[-1].items()))
    keys = margins[0].keys()
    print("mean", " ".join(f"{k} {np.mean([m[k] for m in margins if k in m]):+.4f}" for k in keys))


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main(sys.argv[1])
