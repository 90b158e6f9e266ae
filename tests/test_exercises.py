import pytest

from clkit.exercises import check


def test_an_empty_answer_says_how_to_answer(capsys):
    check(None, 3, why="three")
    assert "Not answered yet" in capsys.readouterr().out


def test_a_right_answer_passes_within_the_tolerance(capsys):
    check(0.69, 0.6931, why="log 2", tolerance=0.01)
    check(" Crop ", "crop", why="the crop")
    check([1, 2], [1, 2], why="a list")
    assert "Correct: 0.6931" in capsys.readouterr().out


@pytest.mark.parametrize("answer, expected", [(0.5, 0.6931), ("colour", "crop"), ("1", 1), (True, 1), ([2], [1])])
def test_a_wrong_answer_fails_with_the_expected_one_and_why(answer, expected):
    with pytest.raises(AssertionError, match="because of this|Expected a number|expected answer") as error:
        check(answer, expected, why="because of this", tolerance=0.01)
    assert "because of this" in str(error.value) or "number" in str(error.value)
