/// The OpenAPI 3.1 description of this service, served at /openapi.json. Tests keep it in step
/// with the routes the service answers.
enum OpenAPIDocument {
    static let json = #"""
        {
         "openapi": "3.1.0",
         "info": {
          "title": "Album catalog: command-api",
          "version": "1.0.0",
          "description": "Write side of the album catalog. Every command becomes events on the PostgreSQL primary."
         },
         "servers": [
          {
           "url": "http://127.0.0.1:8080"
          }
         ],
         "paths": {
          "/albums": {
           "post": {
            "operationId": "createAlbum",
            "summary": "Create an album",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             }
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/CreateAlbum"
               }
              }
             }
            },
            "responses": {
             "201": {
              "description": "created",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               },
               "Location": {
                "schema": {
                 "type": "string"
                },
                "description": "the created resource"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "413": {
              "$ref": "#/components/responses/Problem"
             },
             "415": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           }
          },
          "/albums/{id}": {
           "parameters": [
            {
             "$ref": "#/components/parameters/AlbumId"
            }
           ],
           "patch": {
            "operationId": "changeAlbumDetails",
            "summary": "Change title, artist or release year",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/ChangeAlbumDetails"
               }
              }
             }
            },
            "responses": {
             "200": {
              "description": "changed, or already so",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "413": {
              "$ref": "#/components/responses/Problem"
             },
             "415": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           },
           "delete": {
            "operationId": "archiveAlbum",
            "summary": "Archive an album",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "responses": {
             "200": {
              "description": "archived",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           }
          },
          "/albums/{id}/songs": {
           "parameters": [
            {
             "$ref": "#/components/parameters/AlbumId"
            }
           ],
           "post": {
            "operationId": "addSong",
            "summary": "Add a song at a track number (default last)",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/AddSong"
               }
              }
             }
            },
            "responses": {
             "201": {
              "description": "added",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               },
               "Location": {
                "schema": {
                 "type": "string"
                },
                "description": "the created resource"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "413": {
              "$ref": "#/components/responses/Problem"
             },
             "415": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           }
          },
          "/albums/{id}/songs/{songId}": {
           "parameters": [
            {
             "$ref": "#/components/parameters/AlbumId"
            },
            {
             "$ref": "#/components/parameters/SongId"
            }
           ],
           "patch": {
            "operationId": "changeSongDetails",
            "summary": "Change a song's title or duration",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/ChangeSongDetails"
               }
              }
             }
            },
            "responses": {
             "200": {
              "description": "changed, or already so",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "413": {
              "$ref": "#/components/responses/Problem"
             },
             "415": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           },
           "delete": {
            "operationId": "removeSong",
            "summary": "Remove a song",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "responses": {
             "200": {
              "description": "removed",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           }
          },
          "/albums/{id}/track-order": {
           "parameters": [
            {
             "$ref": "#/components/parameters/AlbumId"
            }
           ],
           "put": {
            "operationId": "reorderTracks",
            "summary": "Set the track order",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/IdempotencyKey"
             },
             {
              "$ref": "#/components/parameters/IfMatch"
             }
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/TrackOrder"
               }
              }
             }
            },
            "responses": {
             "200": {
              "description": "reordered, or already so",
              "headers": {
               "ETag": {
                "$ref": "#/components/headers/ETag"
               },
               "Consistency-Token": {
                "$ref": "#/components/headers/ConsistencyToken"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/CommandResult"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem"
             },
             "404": {
              "$ref": "#/components/responses/Problem"
             },
             "410": {
              "$ref": "#/components/responses/Problem"
             },
             "412": {
              "$ref": "#/components/responses/Problem"
             },
             "413": {
              "$ref": "#/components/responses/Problem"
             },
             "415": {
              "$ref": "#/components/responses/Problem"
             },
             "422": {
              "$ref": "#/components/responses/Problem"
             },
             "503": {
              "$ref": "#/components/responses/Problem"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {
              "bearer": [
               "catalog:write"
              ]
             }
            ]
           }
          },
          "/health/live": {
           "get": {
            "operationId": "live",
            "summary": "The process is up",
            "responses": {
             "200": {
              "description": "up",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object"
                }
               }
              }
             }
            }
           }
          },
          "/health/ready": {
           "get": {
            "operationId": "ready",
            "summary": "Dependencies are reachable",
            "responses": {
             "200": {
              "description": "ready",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Readiness"
                }
               }
              }
             },
             "503": {
              "description": "not ready",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Readiness"
                }
               }
              }
             }
            }
           }
          },
          "/metrics": {
           "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "responses": {
             "200": {
              "description": "text exposition format",
              "content": {
               "text/plain": {
                "schema": {
                 "type": "string"
                }
               }
              }
             }
            }
           }
          },
          "/openapi.json": {
           "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
             "200": {
              "description": "OpenAPI 3.1",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object"
                }
               }
              }
             }
            }
           }
          }
         },
         "components": {
          "parameters": {
           "AlbumId": {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
             "type": "string",
             "format": "uuid"
            }
           },
           "SongId": {
            "name": "songId",
            "in": "path",
            "required": true,
            "schema": {
             "type": "string",
             "format": "uuid"
            }
           },
           "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "apply only when the album's ETag \"<version>\" is one of these entity tags (RFC 9110, strong comparison: a weak tag never matches), or with * when the album exists; else 412",
            "schema": {
             "type": "string",
             "pattern": "^[ \\t]*(\\*|[ \\t,]*(W/)?\"[\\x21\\x23-\\x7E]*\"([ \\t]*,([ \\t]*(W/)?\"[\\x21\\x23-\\x7E]*\")?)*)[ \\t]*$"
            }
           },
           "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "a retry with the same key and body returns the first response",
            "schema": {
             "type": "string",
             "minLength": 1,
             "maxLength": 200,
             "pattern": "^[\\x20-\\x7E]+$"
            }
           },
           "RequestId": {
            "name": "Request-Id",
            "in": "header",
            "required": false,
            "description": "echoed in the response when it is 1 to 200 visible ASCII characters; any other value is replaced by a new id",
            "schema": {
             "type": "string"
            }
           }
          },
          "headers": {
           "ETag": {
            "description": "\"<version>\" of the album",
            "schema": {
             "type": "string"
            }
           },
           "ConsistencyToken": {
            "description": "send it to query-api to read your write",
            "schema": {
             "type": "string"
            }
           },
           "RequestId": {
            "schema": {
             "type": "string"
            }
           }
          },
          "responses": {
           "Problem": {
            "description": "RFC 9457 problem",
            "headers": {
             "Request-Id": {
              "$ref": "#/components/headers/RequestId"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Unauthorized": {
            "description": "no token, or one the service does not accept (RFC 6750); the token is never echoed",
            "headers": {
             "WWW-Authenticate": {
              "schema": {
               "type": "string"
              },
              "description": "Bearer realm=\"catalog\", with error=\"invalid_token\" and why when a token was sent"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Forbidden": {
            "description": "a valid token without the scope the operation needs",
            "headers": {
             "WWW-Authenticate": {
              "schema": {
               "type": "string"
              },
              "description": "Bearer realm=\"catalog\", error=\"insufficient_scope\", scope=\"...\""
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           }
          },
          "schemas": {
           "Text": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000-\\u001F\\u007F-\\u009F]*(?!\\n)$",
            "description": "1-200 characters (code points, as sent), not only white space, no control characters; stored trimmed"
           },
           "CreateAlbum": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "title",
             "artist"
            ],
            "properties": {
             "title": {
              "$ref": "#/components/schemas/Text"
             },
             "artist": {
              "$ref": "#/components/schemas/Text"
             },
             "releaseYear": {
              "type": [
               "integer",
               "null"
              ],
              "minimum": 1860,
              "maximum": 2100
             },
             "songs": {
              "type": [
               "array",
               "null"
              ],
              "maxItems": 500,
              "items": {
               "type": "object",
               "additionalProperties": false,
               "required": [
                "title"
               ],
               "properties": {
                "title": {
                 "$ref": "#/components/schemas/Text"
                },
                "durationSeconds": {
                 "type": [
                  "integer",
                  "null"
                 ],
                 "minimum": 1,
                 "maximum": 86400
                }
               }
              }
             }
            }
           },
           "ChangeAlbumDetails": {
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "properties": {
             "title": {
              "$ref": "#/components/schemas/Text"
             },
             "artist": {
              "$ref": "#/components/schemas/Text"
             },
             "releaseYear": {
              "type": [
               "integer",
               "null"
              ],
              "minimum": 1860,
              "maximum": 2100,
              "description": "null clears it"
             }
            }
           },
           "AddSong": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "title"
            ],
            "properties": {
             "title": {
              "$ref": "#/components/schemas/Text"
             },
             "durationSeconds": {
              "type": [
               "integer",
               "null"
              ],
              "minimum": 1,
              "maximum": 86400
             },
             "trackNumber": {
              "type": [
               "integer",
               "null"
              ],
              "minimum": 1,
              "maximum": 501,
              "description": "1-based, at most one past the album's last song (an album holds at most 500); default last"
             }
            }
           },
           "ChangeSongDetails": {
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "properties": {
             "title": {
              "$ref": "#/components/schemas/Text"
             },
             "durationSeconds": {
              "type": [
               "integer",
               "null"
              ],
              "minimum": 1,
              "maximum": 86400,
              "description": "null clears it"
             }
            }
           },
           "TrackOrder": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "songIds"
            ],
            "properties": {
             "songIds": {
              "type": "array",
              "items": {
               "type": "string",
               "format": "uuid"
              },
              "description": "a permutation of the album's songs"
             }
            }
           },
           "CommandResult": {
            "type": "object",
            "required": [
             "id",
             "version"
            ],
            "properties": {
             "id": {
              "type": "string",
              "format": "uuid"
             },
             "version": {
              "type": "integer",
              "minimum": 0
             },
             "songId": {
              "type": "string",
              "format": "uuid"
             }
            }
           },
           "Problem": {
            "type": "object",
            "required": [
             "type",
             "title",
             "status"
            ],
            "properties": {
             "type": {
              "type": "string"
             },
             "title": {
              "type": "string"
             },
             "status": {
              "type": "integer"
             },
             "detail": {
              "type": "string"
             },
             "errors": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "field",
                "message"
               ],
               "properties": {
                "field": {
                 "type": "string"
                },
                "message": {
                 "type": "string"
                }
               }
              }
             }
            }
           },
           "Readiness": {
            "type": "object",
            "required": [
             "status"
            ],
            "properties": {
             "status": {
              "type": "string"
             },
             "dependencies": {
              "type": "object"
             }
            }
           }
          },
          "securitySchemes": {
           "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a JWT signed by one of the keys of the service's key set (--auth-keys), with its issuer, audience, exp and the scope the operation needs"
           }
          }
         }
        }
        """#
}
