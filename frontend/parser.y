/* parser.y — the grammar of .nnd files (docs/language.md explains it).
 * Actions are one-line calls into the AST builders of ast.c (which may return
 * NULL once the parse has stopped: out of memory). On a syntax error the
 * parser reports it and skips to the end of the enclosing block, so one run
 * reports an error in each broken block. */
%define api.prefix {nnd_yy}
%define api.location.type {PgLoc}
%define parse.error detailed
%locations

%code requires {
#include "frontend.h"
}

%code {
#include <string.h>

int nnd_yylex(void);
static void nnd_yyerror(const char *msg) {
  if (fe_parse_stopped()) return; /* the error that stopped the parse has been reported */
  if (strcmp(msg, "memory exhausted") == 0) /* the stack: a long chain of unary minuses */
    diag_error(nnd_yylloc, "expression nested too deeply (more than %d levels)", FE_MAX_NESTING);
  else diag_error(nnd_yylloc, "%s", msg);
}
#define YYLLOC_DEFAULT(cur, rhs, n) ((cur) = (n) ? YYRHSLOC(rhs, 1) : YYRHSLOC(rhs, 0))
}

%union {
  double num;
  const char *str;
  AstExpr *expr;
  AstStmt *stmt;
  AstType type;
}

%token KW_MODEL "'model'" KW_TRAIN "'train'" KW_DATA "'data'"
%token KW_INPUT "'input'" KW_LOSS "'loss'" KW_METRIC "'metric'" KW_EXTERN "'extern'"
%token KW_BLOCK "'block'" KW_RETURN "'return'" KW_REPEAT "'repeat'"
%token <str> IDENT "identifier" STRING "string"
%token <num> NUMBER "number"
%token BAD_CHAR "invalid character" BAD_STRING "unterminated string"

%type <expr> expr primary args arglist arg params paramlist count
%type <stmt> stmts stmt
%type <type> type
%type <str> data_name

%left '+' '-'
%left '*' '/' '@'
%precedence NEG

%%

file
  : %empty
  | file block
  ;

block
  : KW_MODEL IDENT '{' stmts '}'    { fe_add_block(fe_block(BLOCK_MODEL, @1, $2, $4)); }
  | KW_TRAIN '{' stmts '}'          { fe_add_block(fe_block(BLOCK_TRAIN, @1, "train", $3)); }
  | KW_DATA data_name '{' stmts '}' { fe_add_block(fe_block(BLOCK_DATA, @1, $2, $4)); }
  | KW_EXTERN IDENT '{' stmts '}'   { fe_add_block(fe_block(BLOCK_EXTERN, @2, $2, $4)); }
  | KW_BLOCK IDENT '(' params ')' '{' stmts '}' { fe_add_block(fe_def_block(@1, $2, $4, $7)); }
  | error '}'                       { yyerrok; }
  ;

params
  : %empty                          { $$ = fe_list(@$, fe_arg_list(NULL, NULL)); }
  | paramlist                       { $$ = fe_list(@1, $1); }
  ;

paramlist
  : IDENT                           { $$ = fe_arg_list(NULL, fe_leaf(AST_NAME, @1, $1)); }
  | paramlist ',' IDENT             { $$ = fe_arg_list($1, fe_leaf(AST_NAME, @3, $3)); }
  ;

data_name
  : IDENT
  | KW_TRAIN                        { $$ = "train"; }
  ;

stmts
  : %empty                          { $$ = NULL; }
  | stmts stmt                      { $$ = fe_stmt_append($1, $2); }
  ;

stmt
  : KW_INPUT IDENT ':' type         { $$ = fe_input(@2, $2, $4); }
  | IDENT '=' expr                  { $$ = fe_stmt(ST_LET, @1, $1, $3); }
  | KW_LOSS expr                    { $$ = fe_stmt(ST_LOSS, @1, "loss", $2); }
  | KW_METRIC expr                  { $$ = fe_stmt(ST_METRIC, @1, NULL, $2); }
  | KW_RETURN expr                  { $$ = fe_stmt(ST_RETURN, @1, NULL, $2); }
  ;

type
  : IDENT                           { $$ = fe_type(@1, $1, NULL); }
  | IDENT '[' args ']'              { $$ = fe_type(@1, $1, $3); }
  ;

expr
  : primary
  | expr '+' expr                   { $$ = fe_binop('+', @2, $1, $3); }
  | expr '-' expr                   { $$ = fe_binop('-', @2, $1, $3); }
  | expr '*' expr                   { $$ = fe_binop('*', @2, $1, $3); }
  | expr '/' expr                   { $$ = fe_binop('/', @2, $1, $3); }
  | expr '@' expr                   { $$ = fe_binop('@', @2, $1, $3); }
  | '-' expr %prec NEG              { $$ = fe_neg(@1, $2); }
  ;

primary
  : NUMBER                          { $$ = fe_num(@1, $1); }
  | STRING                          { $$ = fe_leaf(AST_STR, @1, $1); }
  | IDENT                           { $$ = fe_leaf(AST_NAME, @1, $1); }
  | IDENT '(' args ')'              { $$ = fe_call(@1, $1, $3); }
  | '(' expr ')'                    { $$ = $2; }
  | '[' args ']'                    { $$ = fe_list(@1, $2); }
  | KW_REPEAT count IDENT '(' args ')' { $$ = fe_repeat(@1, $2, fe_call(@3, $3, $5)); }
  ;

count
  : NUMBER                          { $$ = fe_num(@1, $1); }
  | IDENT                           { $$ = fe_leaf(AST_NAME, @1, $1); }
  | '(' expr ')'                    { $$ = $2; }
  ;

args
  : %empty                          { $$ = fe_arg_list(NULL, NULL); }
  | arglist
  ;

arglist
  : arg                             { $$ = fe_arg_list(NULL, $1); }
  | arglist ',' arg                 { $$ = fe_arg_list($1, $3); }
  ;

arg
  : expr
  | IDENT '=' expr                  { $$ = fe_kwarg(@1, $1, $3); }
  ;

%%
