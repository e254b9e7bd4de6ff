import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from vmm.model import metadata
from vmm.model.errors import InvalidInput
from vmm.model.metadata import NAMESPACE, MalformedMetadata, Metadata


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("//a/./b/", "/a/b"),
        ("a/b", "/a/b"),
        ("/a/b/../c", "/a/c"),
        ("  /lab/web  ", "/lab/web"),
        ("/my lab/wéb 🎮", "/my lab/wéb 🎮"),
        ("/a/..", "/"),
        ("/$(touch x)/-x", "/$(touch x)/-x"),
    ],
)
def test_normalise_path(raw, expected):
    assert metadata.normalise_path(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "/..", "/a/../..", "/a\x00b", "/a\nb", "/a/ /b"])
def test_normalise_path_rejects(raw):
    with pytest.raises(InvalidInput):
        metadata.normalise_path(raw)


def test_labels_are_trimmed_and_deduplicated_in_order():
    assert metadata.normalise_labels([" web ", "db", "web", "db "]) == ("web", "db")


@pytest.mark.parametrize("raw", ["", "  ", "a\tb", "x\x00"])
def test_bad_labels_are_rejected(raw):
    with pytest.raises(InvalidInput):
        metadata.normalise_labels([raw])


def test_reads_the_contract_example():
    text = f"""<vmm:vmm xmlns:vmm="{NAMESPACE}">
        <vmm:path>/symbolic/vm/organization/path</vmm:path>
        <vmm:label>arbitrary-label</vmm:label>
        <vmm:label>another-label</vmm:label>
    </vmm:vmm>"""
    meta = metadata.from_xml(text)
    assert meta == Metadata("/symbolic/vm/organization/path", ("arbitrary-label", "another-label"))


def test_any_prefix_and_no_prefix_read_the_same():
    prefixed = f'<q:vmm xmlns:q="{NAMESPACE}"><q:path>/a/b/</q:path><q:label>x</q:label></q:vmm>'
    default_ns = f'<vmm xmlns="{NAMESPACE}"><path>/a/b</path><label>x</label></vmm>'
    bare = "<vmm><path>/a/b</path><label>x</label></vmm>"  # as getMetadata returns it
    assert metadata.from_xml(prefixed) == metadata.from_xml(default_ns) == metadata.from_xml(bare)


def test_absent_path_means_root():
    assert metadata.from_xml(f'<vmm:vmm xmlns:vmm="{NAMESPACE}"/>') == Metadata()


@pytest.mark.parametrize(
    "text",
    [
        "<vmm><path>/a</path><path>/b</path></vmm>",
        "<vmm><path><x/></path></vmm>",
        "<vmm><path>/..</path></vmm>",
        "<vmm><label></label></vmm>",
        "<vmm><label>a\x01b</label></vmm>".replace("\x01", "&#x1;"),
        "<other><path>/a</path></other>",
        '<vmm xmlns="urn:not-vmm"><path>/a</path></vmm>',
        "not xml at all <",
    ],
)
def test_malformed_metadata_is_reported(text):
    with pytest.raises(MalformedMetadata):
        metadata.from_xml(text)


def test_unknown_children_survive_a_rewrite():
    text = (
        f'<vmm:vmm xmlns:vmm="{NAMESPACE}"><vmm:path>/a</vmm:path>'
        '<vmm:colour shade="dark">blue<vmm:x/></vmm:colour>'
        '<o:note xmlns:o="urn:o">hi</o:note></vmm:vmm>'
    )
    meta = metadata.from_xml(text).moved_to("/b")
    written = metadata.to_element(meta)
    assert written.find("path").text == "/b"
    assert written.find("colour").get("shade") == "dark"
    assert written.find("colour/x") is not None
    assert written.find("{urn:o}note").text == "hi"
    assert metadata.from_element(written) == meta


def test_written_element_has_no_namespace_for_set_metadata():
    element = metadata.to_element(Metadata("/a", ("x",)))
    assert element.tag == "vmm"
    assert [etree.QName(child).namespace for child in element] == [None, None]


def test_default_metadata_writes_nothing_and_is_default():
    assert Metadata().is_default
    assert not Metadata("/a").is_default
    assert not Metadata(extra=("<x/>",)).is_default


def test_label_changes():
    meta = Metadata("/a", ("web",))
    assert meta.with_labels([" db", "web"]).labels == ("web", "db")
    assert meta.with_labels(["db"]).without_labels(["web "]).labels == ("db",)


segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\ufffe\uffff"),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() and s.strip() not in (".", ".."))
paths = st.lists(segment.map(str.strip), max_size=4).map(lambda parts: "/" + "/".join(parts))
labels = st.lists(
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"),
        min_size=1,
        max_size=10,
    )
    .map(str.strip)
    .filter(bool),
    max_size=5,
    unique=True,
)
metadatas = st.builds(Metadata, path=paths, labels=labels.map(tuple))


@given(metadatas)
def test_parse_of_write_is_identity(meta):
    assert metadata.from_xml(metadata.to_xml(meta, namespaced=True)) == meta
    assert metadata.from_xml(metadata.to_xml(meta)) == meta


@given(st.text(max_size=30))
def test_normalisation_is_idempotent(raw):
    try:
        once = metadata.normalise_path(raw)
    except InvalidInput:
        return
    assert metadata.normalise_path(once) == once
    assert once.startswith("/")


@given(st.text(max_size=12), st.text(max_size=12))
def test_any_input_is_either_refused_or_stored_faithfully(raw_path, raw_label):
    try:
        meta = Metadata(metadata.normalise_path(raw_path), metadata.normalise_labels([raw_label]))
    except InvalidInput:
        return
    assert metadata.from_xml(metadata.to_xml(meta)) == meta


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("/d" * 65, "path is 65 folders deep; at most 64 are allowed"),
        ("/" + "n" * 256, "is 256 characters long; at most 255 are allowed"),
        ("/" + "/".join(["y" * 250] * 5), "path is 1255 characters long; at most 1024"),
    ],
)
def test_paths_past_the_bounds_are_refused_in_one_short_line(raw, why):
    with pytest.raises(InvalidInput, match=why) as err:
        metadata.normalise_path(raw)
    assert len(str(err.value)) < 120
    assert metadata.normalise_path("/d" * 64).count("/") == 64
    with pytest.raises(MalformedMetadata, match=why):
        metadata.from_xml(f"<vmm><path>{raw}</path></vmm>")


def test_a_rewrite_edits_the_element_it_was_read_from():
    text = (
        '<vmm v="2"><!-- c --><path at="p">/a/</path><label k="1">x</label>'
        "<label>y</label><z/>stray</vmm>"
    )
    meta = metadata.from_xml(text).moved_to("/b").without_labels(["y"]).with_labels(["w"])
    assert meta == Metadata("/b", ("x", "w"), ("<z/>",))
    assert metadata.to_xml(meta) == (
        '<vmm v="2"><!-- c --><path at="p">/b</path><label k="1">x</label>'
        "<label>w</label><z/>stray</vmm>"
    )
    named = metadata.to_element(meta, namespaced=True)
    assert named.get("v") == "2" and named.find(f"{{{NAMESPACE}}}path").get("at") == "p"


def test_an_element_saying_more_than_vmm_knows_is_not_default():
    assert not metadata.from_xml('<vmm v="2"><path>/a</path></vmm>').moved_to("/").is_default
    assert not metadata.from_xml("<vmm><!-- c --></vmm>").is_default
    assert metadata.from_xml("<vmm><path>/a</path></vmm>").moved_to("/").is_default


def test_entities_are_never_expanded():
    with pytest.raises(MalformedMetadata, match="not XML"):
        metadata.from_xml("<vmm><path>&xxe;</path></vmm>")
    doctype = '<!DOCTYPE vmm [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    with pytest.raises(MalformedMetadata, match="holds elements"):  # the reference, unexpanded
        metadata.from_xml(f"{doctype}<vmm><label>&xxe;</label></vmm>")
