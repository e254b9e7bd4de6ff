from dataclasses import dataclass

import pytest

from vmm import tree


@dataclass(frozen=True)
class VM:
    name: str
    path: str
    labels: tuple[str, ...] = ()


VMS = [
    VM("a", "/lab/web", ("web",)),
    VM("b", "/lab/web/staging", ("web", "test")),
    VM("c", "/lab/db", ("db",)),
    VM("d", "/"),
    VM("e", "/labs"),
]


def test_folders_exist_only_through_their_vms():
    counts = tree.folder_counts(VMS)
    assert counts == {
        "/": 5,
        "/lab": 3,
        "/lab/web": 2,
        "/lab/web/staging": 1,
        "/lab/db": 1,
        "/labs": 1,
    }


def test_subfolders_are_direct_children_with_counts():
    assert [(f.name, f.vms) for f in tree.subfolders("/", VMS)] == [("lab", 3), ("labs", 1)]
    assert [f.path for f in tree.subfolders("/lab", VMS)] == ["/lab/db", "/lab/web"]


def test_in_folder_direct_and_recursive():
    assert [vm.name for vm in tree.in_folder("/lab/web", VMS)] == ["a"]
    assert [vm.name for vm in tree.in_folder("/lab", VMS, recursive=True)] == ["c", "a", "b"]
    assert len(tree.in_folder("/", VMS, recursive=True)) == 5


def test_a_folder_name_prefix_is_not_containment():
    assert not tree.is_within("/labs", "/lab")
    assert tree.folder_exists("/lab/web", VMS)
    assert not tree.folder_exists("/la", VMS)


def test_labels():
    assert tree.label_counts(VMS) == {"db": 1, "test": 1, "web": 2}
    assert [vm.name for vm in tree.with_labels(["web", "test"], VMS)] == ["b"]


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        ("/lab/web", "/lab", "/prod", "/prod/web"),
        ("/lab", "/lab", "/prod", "/prod"),
        ("/lab/web/x", "/lab/web", "/", "/x"),
        ("/a", "/", "/z", "/z/a"),
    ],
)
def test_rehome(path, old, new, expected):
    assert tree.rehome(path, old, new) == expected


def test_path_helpers():
    assert tree.ancestors("/a/b") == ["/", "/a", "/a/b"]
    assert tree.parent("/a/b") == "/a"
    assert tree.parent("/a") == "/"
    assert tree.basename("/a/b") == "b"
    assert tree.join("/", "x") == "/x"
