/* test_build.c: `glia build`'s plan and Containerfile (src/build.c): specs
 * parsed from YAML in, exact Containerfile text (or pieces of it) out, and
 * the default image names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "build.h"
#include "config.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define API(name)                                                              \
	"- name: " name "\n"                                                   \
	"  kind: RealtimeAPI\n"                                                \
	"  predictor:\n"                                                       \
	"    type: python\n"                                                   \
	"    path: p.py\n"

static glia_api_spec *parse(const char *yaml, size_t *n)
{
	glia_api_spec *specs = NULL;
	glia_config_error err;

	if (glia_config_parse(yaml, strlen(yaml), "glia.yaml", NULL, &specs, n,
	                      &err) != 0)
		fail_msg("parse failed: %s", err.message);
	return specs;
}

/* The Containerfile of yaml (project_dir may be NULL: no default files). */
static char *containerfile(const char *yaml, const char *project_dir,
                           const char *base, glia_build_plan *plan_out)
{
	size_t n = 0;
	glia_api_spec *specs = parse(yaml, &n);
	glia_build_plan plan;

	glia_build_plan_init(&plan, specs, n, project_dir, "glia.yaml", base);
	char *text = glia_build_containerfile(&plan);
	glia_api_specs_free(specs, n);
	if (plan_out)
		*plan_out = plan;
	else
		glia_build_plan_free(&plan);
	return text;
}

static void assert_has(const char *text, const char *piece)
{
	if (!strstr(text, piece))
		fail_msg("missing:\n%s\nin:\n%s", piece, text);
}

static void assert_lacks(const char *text, const char *piece)
{
	if (strstr(text, piece))
		fail_msg("unexpected:\n%s\nin:\n%s", piece, text);
}

static const char minimal[] =
    "# Written by glia build " GLIA_VERSION " from glia.yaml "
    "(docs/containers.md).\n"
    "# glia is under /usr/local and the project in /app; one image serves "
    "every\n"
    "# API of the file. A replica of API NAME:\n"
    "#   glia worker --api NAME --listen 0.0.0.0:8080 /app/glia.yaml\n"
    "FROM docker.io/library/debian:bookworm-slim\n"
    "ARG DEBIAN_FRONTEND=noninteractive\n"
    "# what glia links, and Debian's python3\n"
    "RUN apt-get update \\\n"
    " && apt-get install -y --no-install-recommends \\\n"
    "      ca-certificates libcurl4 libhttp-parser2.9 libjansson4 \\\n"
    "      libpython3.11 libsqlite3-0 libssl3 libuv1 libyaml-0-2 python3 \\\n"
    " && rm -rf /var/lib/apt/lists/*\n"
    "COPY glia/ /usr/local/\n"
    "COPY app/ /app/\n"
    "WORKDIR /app\n"
    "LABEL io.glia.version=\"" GLIA_VERSION "\" io.glia.file=\"/app/"
    "glia.yaml\" io.glia.apis=\"a\"\n"
    "ENTRYPOINT [\"glia\"]\n"
    "CMD [\"--help\"]\n";

static void project_without_dependencies_gets_glia_and_python(void **state)
{
	char *text = containerfile(API("a"), NULL, NULL, NULL);

	assert_string_equal(text, minimal);
	free(text);
}

static void base_image_is_the_from_line(void **state)
{
	char *text =
	    containerfile(API("a"), NULL, "localhost/my-debian:12", NULL);

	assert_has(text, "\nFROM localhost/my-debian:12\n");
	assert_lacks(text, "bookworm-slim");
	free(text);
}

static void apt_packages_of_every_api_in_one_layer(void **state)
{
	char *text = containerfile(
	    API("a") "    dependencies: {apt: [python3-numpy, libgomp1]}\n" API(
	        "b") "    dependencies: {apt: [python3-sklearn, "
	             "python3-numpy]}\n"
	             "- name: split\n"
	             "  kind: TrafficSplitter\n"
	             "  apis: [{name: a, weight: 50}, {name: b, weight: 50}]\n",
	    NULL, NULL, NULL);

	assert_has(text, "# predictor.dependencies.apt\n"
	                 "RUN apt-get update \\\n"
	                 " && apt-get install -y --no-install-recommends \\\n"
	                 "      python3-numpy libgomp1 python3-sklearn \\\n"
	                 " && rm -rf /var/lib/apt/lists/*\n"
	                 "COPY glia/ /usr/local/\n");
	assert_has(text, "io.glia.apis=\"a b split\"\n");
	assert_lacks(text, "python3-pip");
	assert_lacks(text, "RUN [");
	free(text);
}

static void long_package_lists_wrap(void **state)
{
	char *text = containerfile(
	    API("a") "    dependencies:\n"
	             "      apt: [python3-sklearn, python3-pandas, "
	             "python3-scipy, python3-matplotlib, python3-torch]\n",
	    NULL, NULL, NULL);

	assert_has(text, "      python3-sklearn python3-pandas python3-scipy "
	                 "python3-matplotlib \\\n"
	                 "      python3-torch \\\n"
	                 " && rm -rf");
	free(text);
}

static void shell_and_pip_files_run_in_app(void **state)
{
	glia_build_plan plan;
	char *text = containerfile(
	    API("a") "    dependencies:\n"
	             "      shell: ./scripts/setup.sh\n"
	             "      pip: reqs/base.txt\n" API("b") "    dependencies:\n"
	                                                   "      shell: "
	                                                   "scripts/setup.sh\n"
	                                                   "      pip: "
	                                                   "reqs/extra.txt\n",
	    NULL, NULL, &plan);

	assert_int_equal(plan.n_shell, 1);
	assert_int_equal(plan.n_pip, 2);
	assert_has(text, "# predictor.dependencies.apt, and pip for the "
	                 "requirements files\n"
	                 "RUN apt-get update \\\n"
	                 " && apt-get install -y --no-install-recommends \\\n"
	                 "      python3-pip \\\n");
	assert_has(text, "WORKDIR /app\n"
	                 "RUN [\"bash\", \"-e\", \"scripts/setup.sh\"]\n"
	                 "ARG PIP_INDEX_URL=\n"
	                 "ARG PIP_EXTRA_INDEX_URL=\n"
	                 "ARG PIP_TRUSTED_HOST=\n"
	                 "RUN [\"sh\", "
	                 "\"/usr/local/share/glia/build/pip-install.sh\", "
	                 "\"reqs/base.txt\"]\n"
	                 "RUN [\"sh\", "
	                 "\"/usr/local/share/glia/build/pip-install.sh\", "
	                 "\"reqs/extra.txt\"]\n"
	                 "LABEL ");
	glia_build_plan_free(&plan);
	free(text);
}

static void pip_is_not_listed_twice(void **state)
{
	char *text = containerfile(API("a") "    dependencies: {pip: r.txt, "
	                                    "apt: [python3-pip, curl]}\n",
	                           NULL, NULL, NULL);

	assert_has(text, "      python3-pip curl \\\n && rm");
	free(text);
}

static void odd_file_names_are_quoted(void **state)
{
	char *text = containerfile(
	    API("a") "    dependencies: {shell: 'my \"setup\" \\ x.sh'}\n",
	    NULL, NULL, NULL);

	assert_has(text, "RUN [\"bash\", \"-e\", \"my \\\"setup\\\" \\\\ "
	                 "x.sh\"]\n");
	free(text);
}

/* ---- default files: requirements.txt, dependencies.sh ---- */

typedef struct project {
	char dir[64];
} project;

static void touch(const project *p, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static int project_setup(void **state)
{
	project *p = calloc(1, sizeof(*p));

	snprintf(p->dir, sizeof(p->dir), "/tmp/glia-test-build-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	*state = p;
	return 0;
}

static int project_teardown(void **state)
{
	project *p = *state;

	assert_int_equal(glia_remove_tree(p->dir), 0);
	free(p);
	return 0;
}

static void cortex_default_files_are_used_when_present(void **state)
{
	project *p = *state;
	glia_build_plan plan;
	char *text = containerfile(API("a"), p->dir, NULL, &plan);

	assert_int_equal(plan.n_pip + plan.n_shell + plan.n_warnings, 0);
	glia_build_plan_free(&plan);
	free(text);

	touch(p, "requirements.txt");
	touch(p, "dependencies.sh");
	touch(p, "conda-packages.txt");
	text = containerfile(API("a") API("b"), p->dir, NULL, &plan);
	assert_int_equal(plan.n_pip, 1);
	assert_string_equal(plan.pip[0], "requirements.txt");
	assert_int_equal(plan.n_shell, 1);
	assert_string_equal(plan.shell[0], "dependencies.sh");
	assert_int_equal(plan.n_warnings, 1);
	assert_has(plan.warnings[0], "conda-packages.txt: conda packages are "
	                             "not installed");
	assert_has(text, "RUN [\"bash\", \"-e\", \"dependencies.sh\"]\n");
	assert_has(text, "pip-install.sh\", \"requirements.txt\"]\n");
	glia_build_plan_free(&plan);
	free(text);
}

static void named_files_replace_the_defaults(void **state)
{
	project *p = *state;
	glia_build_plan plan;

	touch(p, "requirements.txt");
	touch(p, "dependencies.sh");
	char *text = containerfile(
	    API("a") "    dependencies: {pip: other.txt, shell: other.sh}\n",
	    p->dir, NULL, &plan);
	assert_int_equal(plan.n_pip, 1);
	assert_string_equal(plan.pip[0], "other.txt");
	assert_int_equal(plan.n_shell, 1);
	assert_string_equal(plan.shell[0], "other.sh");
	assert_lacks(text, "requirements.txt");
	glia_build_plan_free(&plan);
	free(text);
}

/* ---- names ---- */

static void default_tag_comes_from_the_directory(void **state)
{
	static const struct {
		const char *dir, *tag;
	} cases[] = {
	    {"iris-classifier", "glia-iris-classifier:latest"},
	    {"My Project", "glia-my-project:latest"},
	    {"a__b..c", "glia-a_b.c:latest"},
	    {"-x-", "glia-x:latest"},
	    {"ÄÖ", "glia-project:latest"},
	    {"", "glia-project:latest"},
	    {"v1.2_final", "glia-v1.2_final:latest"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char *tag = glia_build_default_tag(cases[i].dir);
		if (strcmp(tag, cases[i].tag) != 0)
			fail_msg("\"%s\": got %s, want %s", cases[i].dir, tag,
			         cases[i].tag);
		free(tag);
	}
}

/* The packages of `make deb`'s fallback Depends (scripts/deb.sh) are all
 * installed in images, and every name is a Debian package name. */
static void runtime_packages_cover_what_glia_links(void **state)
{
	static const char *const linked[] = {
	    "libcurl4",     "libhttp-parser2.9",
	    "libjansson4",  "libpython3.11",
	    "libsqlite3-0", "libuv1",
	    "libyaml-0-2",  "libssl3",
	    "python3"};

	for (size_t i = 0; i < N(linked); i++) {
		int found = 0;
		for (size_t j = 0; glia_build_runtime_packages[j]; j++)
			found |= strcmp(glia_build_runtime_packages[j],
			                linked[i]) == 0;
		if (!found)
			fail_msg("%s missing", linked[i]);
	}
	for (size_t j = 0; glia_build_runtime_packages[j]; j++)
		assert_true(
		    glia_is_debian_package(glia_build_runtime_packages[j]));
}

static void pip_script_warns_in_the_form_glia_build_reports(void **state)
{
	assert_has(glia_build_pip_script, "echo \"glia build: warning: ");
	assert_has(glia_build_pip_script, "--break-system-packages");
	assert_has(glia_build_pip_script, "-r \"$req\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(project_without_dependencies_gets_glia_and_python),
	    cmocka_unit_test(base_image_is_the_from_line),
	    cmocka_unit_test(apt_packages_of_every_api_in_one_layer),
	    cmocka_unit_test(long_package_lists_wrap),
	    cmocka_unit_test(shell_and_pip_files_run_in_app),
	    cmocka_unit_test(pip_is_not_listed_twice),
	    cmocka_unit_test(odd_file_names_are_quoted),
	    cmocka_unit_test_setup_teardown(
	        cortex_default_files_are_used_when_present, project_setup,
	        project_teardown),
	    cmocka_unit_test_setup_teardown(named_files_replace_the_defaults,
	                                    project_setup, project_teardown),
	    cmocka_unit_test(default_tag_comes_from_the_directory),
	    cmocka_unit_test(runtime_packages_cover_what_glia_links),
	    cmocka_unit_test(pip_script_warns_in_the_form_glia_build_reports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
