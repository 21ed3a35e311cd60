import random

from ptune.data import shard, sorted_batches, training_batches


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


def test_sorted_batches_cover_everything_longest_first():
    sizes = lengths(100)
    plan = sorted_batches(sizes, batch_size=16)
    assert sorted(i for b in plan for i in b) == list(range(100))
    assert sizes[plan[0][0]] == max(sizes)


def test_shards_are_disjoint_and_even():
    plan = [[i] for i in range(11)]
    shards = [shard(plan, rank=r, world_size=2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))
