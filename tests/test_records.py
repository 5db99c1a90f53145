"""The script's @dataclass stand-in behaves as the real dataclasses.dataclass does, for its records."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
import unittest
from typing import Any, Callable, Dict, Tuple

from helpers import veo

# Every class the script decorates with its @dataclass, found rather than listed, so a new record is checked too.
RECORDS = sorted(
    name
    for name, value in vars(veo).items()
    if isinstance(value, type) and getattr(value.__init__, "__qualname__", "").startswith("dataclass.<locals>")
)

SAMPLE = '''
class Sample:
    """A record with every kind of field the script uses."""

    a: int
    b: int = 2
    c: list = field(default_factory=list)
    d: object = field(default=len)
    e: str = field(default="e")
'''


def build(
    source: str, name: str, decorator: Callable[..., Any], field: Callable[..., Any], namespace: Dict[str, Any]
) -> Any:
    """Define the class in `source` with the given @dataclass and field()."""
    scope = dict(namespace, field=field)
    exec(compile(source, "<record>", "exec"), scope)
    return decorator(scope[name])


def both(source: str, name: str, namespace: Dict[str, Any]) -> Tuple[Any, Any]:
    """The class made by the script's stand-in, and by the real dataclasses."""
    ours = build(source, name, veo.dataclass, veo.field, namespace)
    real = build(source, name, dataclasses.dataclass, dataclasses.field, namespace)
    return ours, real


def outcome(cls: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """What a call gives: the fields it set, or the kind of error it raised."""
    try:
        return vars(cls(*args, **kwargs))
    except TypeError:
        return TypeError


class StandIn(unittest.TestCase):
    def setUp(self) -> None:
        self.ours, self.real = both(SAMPLE, "Sample", {})

    def test_the_script_does_not_use_the_real_one(self) -> None:
        # Otherwise this suite compares dataclasses with itself, and start-up pays for inspect.
        self.assertIsNot(veo.dataclass, dataclasses.dataclass)
        self.assertFalse(dataclasses.is_dataclass(veo.Shot))

    def test_calls_set_the_same_fields_or_fail_alike(self) -> None:
        calls = [
            ((1,), {}),
            ((1, 3), {"e": "x"}),
            ((), {"a": 1, "c": [5]}),
            ((1, 2, [3], max, "e"), {}),
            ((), {}),  # a is required
            ((1,), {"a": 2}),  # a given twice
            ((1,), {"z": 2}),  # no such field
            ((1, 2, [], len, "e", "extra"), {}),  # too many
        ]
        for args, kwargs in calls:
            with self.subTest(args=args, kwargs=kwargs):
                self.assertEqual(outcome(self.ours, args, kwargs), outcome(self.real, args, kwargs))

    def test_a_factory_makes_a_fresh_value_each_time(self) -> None:
        first, second = self.ours(1), self.ours(1)
        first.c.append(1)
        self.assertEqual(second.c, [])

    def test_class_attributes_hold_defaults_as_dataclasses_leaves_them(self) -> None:
        for name in ("a", "b", "c", "d", "e"):
            with self.subTest(name=name):
                self.assertEqual(getattr(self.ours, name, "absent"), getattr(self.real, name, "absent"))

    def test_repr_equality_and_hash(self) -> None:
        self.assertEqual(repr(self.ours(1, c=[2])), repr(self.real(1, c=[2])))
        self.assertEqual(self.ours(1), self.ours(1))
        self.assertNotEqual(self.ours(1), self.ours(2))
        self.assertNotEqual(self.ours(1), self.real(1))  # another class, as dataclasses has it
        nan = float("nan")
        self.assertEqual(self.ours(1, d=nan), self.ours(1, d=nan))  # same object: equal, as tuples compare
        for cls in (self.ours, self.real):
            with self.assertRaises(TypeError):
                hash(cls(1))

    def test_mistakes_in_a_record_fail_when_defined(self) -> None:
        for source in (
            "class Bad:\n    a: int = 1\n    b: int\n",  # required after a default
            "class Bad:\n    a: list = []\n",  # a shared mutable default
        ):
            with self.subTest(source=source):
                for decorator, field in ((veo.dataclass, veo.field), (dataclasses.dataclass, dataclasses.field)):
                    with self.assertRaises((TypeError, ValueError)):
                        build(source, "Bad", decorator, field, {})


class TheScriptsRecords(unittest.TestCase):
    """Each record in the script, defined again with the real dataclasses, has the same fields and defaults."""

    def test_fields_and_defaults_match(self) -> None:
        self.assertTrue({"Shot", "Task", "Job"} <= set(RECORDS), RECORDS)  # the search finds them
        for name in RECORDS:
            with self.subTest(record=name):
                source = textwrap.dedent(inspect.getsource(getattr(veo, name)))
                source = source[source.index("class ") :]  # without the decorator line
                ours, real = both(source, name, vars(veo))
                fields = dataclasses.fields(real)
                self.assertEqual(list(ours.__annotations__), [f.name for f in fields])
                required = {
                    f.name: object()
                    for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                }
                self.assertEqual(comparable(vars(ours(**required))), comparable(vars(real(**required))))
                self.assertEqual(ours(**required), ours(**required))


def comparable(values: Dict[str, Any]) -> Dict[str, Any]:
    """Field values, with functions defined in the class body compared by their code."""
    return {k: v.__code__.co_code if hasattr(v, "__code__") else v for k, v in values.items()}


if __name__ == "__main__":
    unittest.main()
