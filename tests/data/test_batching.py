import random

from ptune.data import shard, inference_batches, training_batches


def lengths(n=1000, seed=0):
    rng = random.Random(seed)
    return [rng.randint(3, 60) for _ in range(n)]


def padded(plan, sizes):
    return sum(max(sizes[i] for i in b) * len(b) for b in plan)


def test_every_example_exactly_once_per_epoch():
    sizes = lengths()
    for grouped in (True, False):
        plan = training_batches(sizes, batch_size=32, seed=1, epoch=3, group_by_length=grouped)
        assert sorted(i for b in plan for i in b) == list(range(len(sizes)))


def test_grouping_removes_most_padding_but_stays_random():
    sizes = lengths()
    grouped = training_batches(sizes, batch_size=32, seed=0, epoch=0, group_by_length=True)
    plain = training_batches(sizes, batch_size=32, seed=0, epoch=0, group_by_length=False)
    assert padded(grouped, sizes) < 0.75 * padded(plain, sizes)
    again = training_batches(sizes, batch_size=32, seed=0, epoch=0, group_by_length=True)
    other_epoch = training_batches(sizes, batch_size=32, seed=0, epoch=1, group_by_length=True)
    assert grouped == again and grouped != other_epoch


def test_inference_batches_cover_everything_longest_first():
    sizes = lengths(100)
    plan = inference_batches(sizes, batch_size=16)
    assert sorted(i for b in plan for i in b) == list(range(100))
    assert sizes[plan[0][0]] == max(sizes)
    assert all(len(b) == 16 for b in plan[:-1]) and [sizes[i] for b in plan for i in b] == sorted(sizes, reverse=True)


def test_inference_batches_keep_a_batchs_padding_within_the_limit():
    sizes = lengths(200)
    plan = inference_batches(sizes, batch_size=32, max_padding=0.25)
    assert sorted(i for b in plan for i in b) == list(range(200))
    for batch in plan:
        assert len(batch) <= 32 and max(sizes[i] for i in batch) <= 1.25 * min(sizes[i] for i in batch)
    # a batch closes only when full or when the next row would break the limit
    for batch, following in zip(plan, plan[1:]):
        assert len(batch) == 32 or sizes[batch[0]] > 1.25 * sizes[following[0]]
    assert inference_batches([5, 5, 5], max_padding=0.25) == [[0, 1, 2]]  # no batch size: the limit alone cuts
    assert inference_batches([], batch_size=4) == []


def test_shards_are_disjoint_and_even():
    plan = [[i] for i in range(11)]
    shards = [shard(plan, rank=r, world_size=2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))
