"""Each kind of error names the file, line and column, shows the line with a caret, and says
what was expected."""
import pytest

from policy import PolicyError, compile_condition
from tests.policy.conftest import NOW

LINE = 'Protect {}'


def error_of(condition, context='replica'):
    line = LINE.format(condition)
    with pytest.raises(PolicyError) as info:
        compile_condition(condition, context, now=NOW, source=('detox.txt', 7, len('Protect '), line))
    return info.value


def caret_column(error):
    lines = str(error).splitlines()
    return len(lines[2]) - len(lines[2].lstrip()) - 4 + 1   # 4 spaces of indentation


@pytest.mark.parametrize('condition, column, message', [
    ('replica.sise > 1 TB', 9, "unknown variable 'replica.sise' (did you mean replica.size?)"),
    ('replica.size > 1 TB and foo.bar', 33, "unknown variable 'foo.bar'"),
    ('replica.size ~ 3', 22, 'expected an operator (==, !=, =~'),
    ('replica.size', 21, 'expected an operator after replica.size'),
    ('replica.size > lots', 24, 'expected a size'),
    ('replica.size > 2 TX', 24, "unknown size unit 'TX'"),
    ('dataset.name == ', 25, "expected a value after '=='"),
    ('dataset.status == VALIDD', 27, "expected one of UNKNOWN, DELETED, DEPRECATED, INVALID, PRODUCTION, "
                                     "VALID, IGNORED for dataset.status, found 'VALIDD' (did you mean VALID?)"),
    ('dataset.name =~ /A/(B', 25, 'invalid regular expression'),
    ('replica.size =~ 3', 22, '=~ matches a regular expression and takes a text variable'),
    ('replica.incomplete > 1', 28, 'replica.incomplete is boolean'),
    ('replica.last_block_created older_than 90 dayz ago', 47, "'dayz' is not a time unit"),
    ('(replica.size > 1', 26, "expected ')' to close the '(' at column 9"),
    ('replica.size > 1)', 25, "unmatched ')'"),
    ('replica.size > 1 or', 28, 'expected a variable name, found the end of the condition'),
    ('replica.size > 1 replica.size < 3', 26, "expected 'and', 'or' or the end of the condition, found 'replica.size'"),
    ('dataset.status in VALID', 27, "expected '[' after in"),
    ('dataset.status in [VALID', 27, "expected ']' to close the list"),
    ('dataset.last_access older_than 1 year ago', 9, 'dataset.last_access needs an attribute provider (popularity'),
    ('', 9, 'expected a condition, found nothing'),
])
def test_error_position_and_expectation(condition, column, message):
    error = error_of(condition)
    assert (error.filename, error.line, error.column) == ('detox.txt', 7, column)
    assert str(error).startswith(f'detox.txt:7:{column}: ')
    assert message in error.message
    lines = str(error).splitlines()
    assert lines[1].strip() == LINE.format(condition).strip()
    assert caret_column(error) == column


def test_a_replica_variable_is_unknown_in_a_site_condition():
    error = error_of('replica.size > 1', 'site')
    assert "unknown variable 'replica.size'" in error.message


def test_without_a_source_the_caret_points_into_the_condition_itself():
    with pytest.raises(PolicyError) as info:
        compile_condition('replica.size >> 1', now=NOW)
    assert str(info.value).splitlines()[0].startswith('<condition>:1:15:')
    assert caret_column(info.value) == 15


def test_check_mode_lists_unprovided_variables_instead_of_failing():
    condition = compile_condition('dataset.last_access older_than 1 year ago and blockreplica.is_locked',
                                  now=NOW, check=True)
    assert condition.unprovided == ('dataset.last_access', 'blockreplica.is_locked')
