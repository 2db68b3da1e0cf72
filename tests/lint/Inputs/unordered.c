/* unordered.c — what eval_order.py must report (and must not). */
int make(int x);
int pure(int x);
int combine(int a, int b);

struct pair {
  int a, b;
};

int bad_call(void) { return combine(make(1), make(2)); }
int bad_nested(void) { return combine(1, combine(make(1), pure(make(2)))); }
int bad_operator(void) { return make(1) | make(2); }
int bad_counter(int *n) { return combine((*n)++, make(0)); }
struct pair bad_init(void) {
  struct pair p = {make(1), make(2)};
  return p;
}
int ok_locals(void) {
  int first = make(1);
  return combine(first, make(2));
}
int ok_sequenced(void) { return make(1) && make(2); }
int ok_one_each(void) { return combine(make(1), 2) + 1; }
