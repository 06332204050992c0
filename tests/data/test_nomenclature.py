import pytest

from course_lib.data.nomenclature import LEVELS, dotted_code, load_nomenclature, normalize_code
from course_lib.errors import CourseError


def test_all_five_levels_have_the_official_counts():
    counts = load_nomenclature().labels["level"].value_counts().to_dict()
    assert counts == {"section": 21, "division": 88, "group": 272, "class": 615, "subclass": 732}


@pytest.mark.parametrize(
    ("raw", "compact", "dotted"),
    [("56.10A", "5610A", "56.10A"), (" 5610a ", "5610A", "56.10A"), ("01.1", "011", "01.1"),
     ("56", "56", "56"), ("i", "I", "I"), ("47.91B", "4791B", "47.91B")],
)  # fmt: skip
def test_codes_convert_between_spellings(raw, compact, dotted):
    assert normalize_code(raw) == compact
    assert dotted_code(raw) == dotted


@pytest.mark.parametrize("bad", ["", "boulangerie", "5610AB", "56-10"])
def test_malformed_codes_are_refused_with_an_example(bad):
    with pytest.raises(CourseError, match="5610A"):
        normalize_code(bad)


def test_every_subclass_has_a_parent_at_every_level_consistent_with_its_code():
    nomenclature = load_nomenclature()
    for code in nomenclature.codes:
        assert nomenclature.parent(code, "division") == code[:2]
        assert nomenclature.parent(code, "group") == code[:3]
        assert nomenclature.parent(code, "class") == code[:4]
        assert nomenclature.parent(code, "subclass") == code
        for level in LEVELS:
            assert nomenclature.label(nomenclature.parent(code, level))


def test_parents_and_labels_of_a_known_subclass():
    nomenclature = load_nomenclature()
    assert nomenclature.parent("10.71C", "section") == "C"
    assert nomenclature.label("1071C") == "Boulangerie et boulangerie-pâtisserie"
    assert nomenclature.label("I") == "HÉBERGEMENT ET RESTAURATION"
    assert len(nomenclature.label("1071A", short=40)) <= 40


def test_unknown_codes_and_levels_are_clear_errors():
    nomenclature = load_nomenclature()
    with pytest.raises(CourseError, match="732"):
        nomenclature.parent("9999Z", "section")
    with pytest.raises(CourseError, match="section, division"):
        nomenclature.parent("1071C", "family")
