"""k-nearest-neighbour novelty against an archive, checked against brute force in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from freeenergy.knn_novelty import NoveltyArchive


def brute_novelty(points: np.ndarray, refs: np.ndarray, k: int, skip_self: bool = False) -> np.ndarray:
    """Mean distance to the k nearest rows of ``refs`` (row i of refs excluded for point i if skip_self)."""
    out = np.zeros(len(points))
    for i, p in enumerate(points):
        d = np.sqrt(((refs - p) ** 2).sum(1))
        if skip_self:
            d = np.delete(d, i)
        out[i] = np.sort(d)[:k].mean() if len(d) else 0.0
    return out


@pytest.mark.parametrize("dim", [2, 16])
def test_score_matches_brute_force_in_chunks(dim):
    rng = np.random.default_rng(0)
    arch_np, pts_np = rng.normal(size=(53, dim)), rng.normal(size=(29, dim))
    arch = NoveltyArchive(dim, capacity=64, k=5, chunk_elements=37)  # many tiny chunks
    arch.add(torch.tensor(arch_np, dtype=torch.float32))
    got = arch.score(torch.tensor(pts_np, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, brute_novelty(pts_np, arch_np, 5), rtol=1e-5, atol=1e-5)
    # One chunk for everything gives the same answer.
    whole = NoveltyArchive(dim, capacity=64, k=5)
    whole.add(torch.tensor(arch_np, dtype=torch.float32))
    np.testing.assert_allclose(whole.score(torch.tensor(pts_np, dtype=torch.float32)).numpy(), got, rtol=1e-5)


def test_population_scored_against_itself_skips_each_own_row():
    rng = np.random.default_rng(1)
    arch_np, pop_np = rng.normal(size=(20, 3)), rng.normal(size=(15, 3))
    pop_np[3] = pop_np[7]  # a twin: another row at distance 0 does count
    arch = NoveltyArchive(3, capacity=32, k=4, chunk_elements=11)
    arch.add(torch.tensor(arch_np, dtype=torch.float32))
    pop = torch.tensor(pop_np, dtype=torch.float32)
    got = arch.score(pop, population=pop).numpy()
    refs = np.concatenate([arch_np, pop_np])
    want = np.array([brute_novelty(pop_np[i:i + 1], np.delete(refs, 20 + i, 0), 4)[0] for i in range(15)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[3] < brute_novelty(pop_np[3:4], arch_np, 4)[0]  # the twin pulled it down
    # A copy of the population (another tensor) is a separate set of points: each point meets itself.
    other = arch.score(pop, population=pop.clone()).numpy()
    np.testing.assert_allclose(other, brute_novelty(pop_np, refs, 4), rtol=1e-5, atol=1e-5)


def test_fewer_candidates_than_k_and_empty_archive():
    arch = NoveltyArchive(1, capacity=8, k=5)
    x = torch.tensor([[0.0], [3.0]])
    assert torch.equal(arch.score(x), torch.zeros(2))
    arch.add(torch.tensor([[1.0], [2.0]]))
    np.testing.assert_allclose(arch.score(x).numpy(), [1.5, 1.5])
    # population of one scored against itself: only the archive's two points are candidates.
    np.testing.assert_allclose(arch.score(x[:1], population=x[:1]).numpy(), [1.5])


def test_fifo_keeps_the_newest_points():
    arch = NoveltyArchive(1, capacity=5, k=1, replacement="fifo")
    for start in (0, 3, 6):
        arch.add(torch.arange(start, start + 3, dtype=torch.float32)[:, None])
    assert sorted(arch.archive.flatten().tolist()) == [4.0, 5.0, 6.0, 7.0, 8.0]
    arch.add(torch.arange(100, 112, dtype=torch.float32)[:, None])  # more than capacity at once
    assert sorted(arch.archive.flatten().tolist()) == [107.0, 108.0, 109.0, 110.0, 111.0]
    assert arch.seen == 21 and len(arch) == 5


def test_reservoir_keeps_a_uniform_sample_of_everything_added():
    cap, n, trials = 10, 100, 600
    counts = np.zeros(n)
    g = torch.Generator().manual_seed(0)
    for _ in range(trials):
        arch = NoveltyArchive(1, capacity=cap, k=1, generator=g)
        for start in range(0, n, 7):  # uneven batches, the first ones filling the free rows
            arch.add(torch.arange(start, min(start + 7, n), dtype=torch.float32)[:, None])
        kept = arch.archive.flatten().long().numpy()
        assert len(set(kept.tolist())) == cap
        counts[kept] += 1
    share = counts / trials  # each point should be kept with probability cap / n = 0.1
    assert abs(share.mean() - 0.1) < 1e-12
    for block in share.reshape(5, 20):  # early, middle and late points alike (sd of a block mean ~0.0027)
        assert abs(block.mean() - 0.1) < 0.012
    assert share.min() > 0.04 and share.max() < 0.17


def test_state_dict_round_trip_and_memory():
    arch = NoveltyArchive(4, capacity=16, k=3)
    arch.add(torch.randn(10, 4, generator=torch.Generator().manual_seed(2)))
    other = NoveltyArchive(4, capacity=16, k=3)
    other.load_state_dict(arch.state_dict())
    q = torch.randn(6, 4)
    assert torch.equal(other.score(q), arch.score(q)) and other.seen == 10
    with pytest.raises(ValueError, match="does not fit"):
        NoveltyArchive(4, capacity=8, k=3).load_state_dict(arch.state_dict())
    assert NoveltyArchive.memory_bytes(1000, 64) == 256_000
    with pytest.raises(ValueError, match="shape"):
        arch.score(torch.zeros(3, 5))


def test_direction_is_the_gradient_of_novelty_with_neighbours_fixed():
    g = torch.Generator().manual_seed(3)
    arch_pts, pop = torch.randn(40, 3, generator=g), torch.randn(12, 3, generator=g)
    arch = NoveltyArchive(3, capacity=64, k=4, chunk_elements=13)
    arch.add(arch_pts)
    refs = torch.cat([arch_pts, pop])
    z = pop.clone().requires_grad_(True)
    d = torch.cdist(z, refs)
    d = d + torch.nn.functional.pad(torch.diag(torch.full((12,), torch.inf)), (40, 0))  # skip own row
    torch.sort(d, 1).values[:, :4].mean(1).sum().backward()  # brute-force novelty, neighbours fixed locally
    torch.testing.assert_close(arch.direction(pop, population=pop), z.grad, rtol=1e-4, atol=1e-5)
    # A small step along it raises every point's novelty (against the archive alone, which stays put).
    step = pop + 1e-3 * arch.direction(pop)
    assert bool((arch.score(step) > arch.score(pop)).all())
